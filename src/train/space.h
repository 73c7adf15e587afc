/* `tcdist tune`'s search space: a small line-based file (docs/tuning.md, "The space file"), one
 * dimension a line:
 *     NAME TYPE ARGS...      # a comment
 * NAME is lr, batch, weight_decay, emb_lr, model (the kind: choice only), or a parameter of a model kind
 * of the registry (dim, hidden, dropout, filters, ...: it applies to the kinds that have it).
 * TYPE is log LO HI (log-uniform), uniform LO HI, int LO HI (whole numbers, both ends included),
 * or choice V1 V2 ... . Every value is checked when the file is read, as its flag would be, and a
 * bad line is an error naming the file, the line and the field.
 *
 * Points are quasi-random: point i of dimension d is the i+1-th element of the Halton sequence in
 * base prime(d), shifted by a number drawn from the seed (mod 1), so that a few points already
 * cover the space evenly and the same seed gives the same points. */
#ifndef TCD_SPACE_H
#define TCD_SPACE_H

#include <stddef.h>
#include <stdint.h>

#include "models/model.h"

#define TCD_SPACE_MAX 24
#define TCD_SPACE_MAX_CHOICES 32

typedef enum { TCD_SP_LOG, TCD_SP_UNIFORM, TCD_SP_INT, TCD_SP_CHOICE } tcd_sp_type;

typedef struct {
    char name[48];
    tcd_sp_type type;
    double lo, hi;
    int n_choices;
    char *choices[TCD_SPACE_MAX_CHOICES];
} tcd_space_dim;

typedef struct {
    int n;
    tcd_space_dim dims[TCD_SPACE_MAX];
} tcd_space;

/* The space of a file's text; `file` names it in messages. 0, or -1 with "FILE:LINE: field K
 * ...: why" in err. */
int tcd_space_parse(tcd_space *s, const char *text, const char *file, char *err, size_t errlen);
/* The space of a file (NULL: the default space, written out in docs/tuning.md). */
int tcd_space_load(tcd_space *s, const char *path, char *err, size_t errlen);
void tcd_space_free(tcd_space *s);
/* The space as the canonical text of a file (malloc'd). */
char *tcd_space_text(const tcd_space *s);

/* One point of the space: the settings it gives, on top of the defaults of `tcdist train`. */
typedef struct {
    const tcd_model_kind *kind;
    void *model_cfg; /* the kind's config, its defaults and the point's values (malloc'd) */
    double lr, weight_decay, emb_lr;
    int64_t batch;
    char *json; /* {"model": "bow", "lr": 0.01, ...}: the point's values (malloc'd) */
} tcd_space_point;

/* Point `index` (0, 1, ...) for `seed`. The defaults (lr, batch, weight_decay, emb_lr) come in *p. 0, or -1
 * with the reason in err (a combination the kind refuses). */
int tcd_space_point_at(const tcd_space *s, uint64_t seed, int64_t index, tcd_space_point *p, char *err,
                       size_t errlen);
void tcd_space_point_free(tcd_space_point *p);

#endif
