/* A model: one kind from the registry (models/registry.c), its configuration, and the tensor
 * table that says where each named tensor lives in the flat buffers.
 *
 * Flat buffers. Parameters, gradients (and, in train/adam.c, Adam's m and v) are one float buffer
 * each, with the tensors at fixed offsets in table order, so that the gradient exchange and the
 * optimizer are single loops. Tensor 0 may be marked row-sparse (the token embedding): its rows
 * are at offset 0 and a batch touches only the rows of its tokens, which the sparse exchange uses.
 * The buffers belong to whoever allocated them: tcd_model_alloc gives the model its own (eval,
 * predict); in training the exchange owns them and tcd_model_bind only points the model at them.
 *
 * A kind implements the encoder and the classifier up to the logits; the output head (binary
 * sigmoid, softmax, or one-vs-all: shape.ova) is shared: the kind gets dlogits from it in backward.
 *
 * Life cycle: build -> alloc or bind -> init_params (or load) -> forward -> backward -> ... ->
 * free. Backward refuses to run without a forward pass with labels on the same batch.
 *
 * Threads: a kind cuts a batch into fixed chunks of TCD_CHUNK documents, independent of the thread
 * count, and adds per-chunk partial gradients in chunk order, so gradients do not depend on the
 * number of threads. */
#ifndef TCD_MODEL_H
#define TCD_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "data/batch.h"

#define TCD_CHUNK 64
#define TCD_MAX_TENSORS 64
#define TCD_TENSOR_NAME 32

/* ---- what the data says: the same for every kind ---- */
typedef struct {
    int64_t n_embeddings; /* rows of the token embedding: corpus words + n-gram buckets */
    int64_t n_classes;    /* C >= 2 */
    int ova;              /* the output head: 0 = sigmoid (2 classes) or softmax; 1 = one-vs-all, an
                           * independent sigmoid per class (multi-label; --loss ova), C logits */
} tcd_model_shape;

/* ---- the tensor table ---- */
typedef enum {
    TCD_INIT_ZERO,    /* biases */
    TCD_INIT_UNIFORM, /* U(-arg, arg) */
    TCD_INIT_GLOROT,  /* U(-l, l), l = sqrt(6 / (rows + cols)) of the [out, in] matrix */
    TCD_INIT_ONE,     /* scales (layer norm) */
} tcd_init_kind;

typedef struct {
    char name[TCD_TENSOR_NAME]; /* "embedding", "hidden.weight", ...: the dataset /params/<name> */
    int64_t rows, cols;         /* cols = 1 for vectors */
    int rank;                   /* 1: stored as [rows] (vectors), 2: as [rows, cols] */
    int64_t offset;             /* into the flat buffers, in floats */
    tcd_init_kind init;
    double init_arg;            /* TCD_INIT_UNIFORM: the limit */
    int sparse_rows;            /* row-sparse gradient (the token embedding; tensor 0 only) */
} tcd_tensor;

/* ---- the configuration of a kind: its own flags, also stored as JSON in model files ---- */
typedef enum { TCD_MP_I64, TCD_MP_F64, TCD_MP_I64_LIST } tcd_mp_type;

#define TCD_MP_MAX_LIST 16
typedef struct {
    int64_t n;
    int64_t v[TCD_MP_MAX_LIST];
} tcd_i64_list;

/* An integer parameter whose def is "auto" holds TCD_MP_AUTO until the kind's resolve() sets it
 * from the data's shape (tcd_model_config_resolve; tcd_model_build does it on its own copy). */
#define TCD_MP_AUTO (-1)

typedef struct {
    const char *name;  /* "dim": the flag --dim and the JSON key "dim" ('-' in flags is '_' in JSON) */
    tcd_mp_type type;
    size_t offset;     /* of the int64_t, double or tcd_i64_list in the kind's config struct */
    double lo, hi;     /* range of the value (of each item of a list) */
    const char *def;   /* default, as it would be written on the command line */
    const char *help;
} tcd_model_param;

typedef struct tcd_model tcd_model;

/* One registry entry. Everything a kind knows lives behind these pointers. */
typedef struct {
    const char *name;    /* "bow" */
    const char *summary; /* one line for --help */
    const tcd_model_param *params; /* terminated by an entry with name NULL */
    size_t cfg_size;     /* its config struct */
    /* 1: train's corpus rule (train/setup.h) chooses the default --epochs and --lr from the
     * training documents; 0: they are 5 and 0.004 (a kind the rule was not measured on, or
     * was measured to hurt) */
    int corpus_rule;
    /* cross-field checks (e.g. heads must divide dim), after every value is in range; 0 or -1
     * with a message in err (naming the flags) */
    int (*check)(const void *cfg, const tcd_model_shape *shape, char *err, size_t errlen);
    /* sets every "auto" parameter (TCD_MP_AUTO) from the shape; NULL if the kind has none */
    void (*resolve)(void *cfg, const tcd_model_shape *shape);
    /* adds the tensors with tcd_model_add_tensor, in the order of the flat buffers */
    void (*layout)(tcd_model *m);
    /* workspace: activations of the last forward and per-chunk scratch */
    void *(*ws_new)(const tcd_model *m);
    void (*ws_free)(void *ws);
    /* logits [n x n_out] of a batch; keeps what backward needs when training */
    void (*forward)(tcd_model *m, const tcd_batch *b, float *logits, int n_threads);
    /* ADDS to m->grads the gradient of sum_i dlogits[i] . logits[i] (dlogits [n x n_out] already
     * carries the 1/global-batch scale) */
    void (*backward)(tcd_model *m, const tcd_batch *b, const float *dlogits, int n_threads);
    /* --deterministic: ADDS to acc (int64 fixed point, flat layout) each document's own
     * contribution, computed in float as a one-document batch would and rounded on its own, so
     * that any split of a global batch (threads, ranks, steps) gives the same integer sums. Sets
     * *bad to the name of a tensor whose contribution left the fixed-point range (or is not
     * finite), else leaves it. lim: the largest magnitude of one contribution, in fixed units. */
    void (*backward_fixed)(tcd_model *m, const tcd_batch *b, const float *dlogits, int n_threads, int64_t *acc,
                           double lim, const char **bad);
    /* 1 when tensor 0's gradient is a bag's: the gradient of row t is the sum, over the batch's
     * documents d and each occurrence of t in d (in document order), of one D-vector per document.
     * Such a kind honours tcd_model_bind_bag: its backward then hands that vector of each document
     * over (m->bag_vec, or m->bag_fix in deterministic mode, row d for document d) and leaves tensor
     * 0's rows alone, so that whoever owns those rows adds them (the shared exchange). */
    int embedding_bag;
} tcd_model_kind;

/* ---- the model ---- */
struct tcd_model {
    const tcd_model_kind *kind;
    void *cfg;             /* the kind's config struct (owned) */
    tcd_model_shape shape;
    uint64_t seed;         /* initialisation */
    int64_t n_out;         /* logits per document: 1 for two classes (sigmoid), else C (softmax, ova) */
    int n_tensors;
    tcd_tensor tensors[TCD_MAX_TENSORS];
    int64_t n_params;
    float *params, *grads; /* [n_params], 64-byte aligned */
    int64_t *acc;          /* deterministic mode: the fixed-point gradient accumulator, else NULL */
    float *bag_vec;        /* tcd_model_bind_bag: [bag_cap x D] each document's embedding-gradient vector */
    int64_t *bag_fix;      /* ... in deterministic mode, fixed point (as added into acc) */
    int64_t bag_cap;       /* documents they hold; 0: the embedding backward is the model's own */
    int bag_on;            /* tcd_model_hand_over: this step's backward hands over (bag_cap > 0) */
    int owns_buffers;      /* tcd_model_alloc made them */
    int deterministic;     /* tcd_model_set_deterministic */
    int training;          /* tcd_model_set_training: a training forward (dropout on) ... */
    int64_t step;          /* ... of this global step (dropout masks depend on it) */
    void *ws;              /* the kind's workspace */
    struct tcd_head_ws *head; /* output head: probabilities and dlogits of the last forward */
    int have_forward;      /* a forward with labels, not yet consumed by backward */
    int64_t last_n;        /* ... and its batch, checked by backward */
    const int32_t *last_tokens, *last_labels;
    const int64_t *last_offsets;
    int last_det;
};

/* ---- the registry (models/registry.c) ---- */
const tcd_model_kind *tcd_model_kind_find(const char *name); /* NULL if unknown */
int tcd_model_n_kinds(void);
const tcd_model_kind *tcd_model_kind_at(int i);
/* "bow|cnn|..." for --help and messages (static storage) */
const char *tcd_model_kind_names(void);

/* ---- configuration (models/config.c) ---- */
/* A kind's config struct with every default applied (malloc'd; free with free()). */
void *tcd_model_config_new(const tcd_model_kind *k);
/* The parameter of kind k named `name` (flag name without the dashes, or JSON key), or NULL. */
const tcd_model_param *tcd_model_param_find(const tcd_model_kind *k, const char *name);
/* Sets one parameter from its text (a flag's value): 0, or -1 with a message naming --NAME. */
int tcd_model_config_set(const tcd_model_kind *k, void *cfg, const tcd_model_param *p, const char *text, char *err,
                         size_t errlen);
/* Replaces the "auto" values of cfg with the kind's choice for this shape (a no-op without any). */
void tcd_model_config_resolve(const tcd_model_kind *k, void *cfg, const tcd_model_shape *shape);
/* A copy of cfg (malloc'd), resolved for shape. */
void *tcd_model_config_resolved(const tcd_model_kind *k, const void *cfg, const tcd_model_shape *shape);
/* Range and cross-field checks of a complete config against the data's shape ("auto" values pass;
 * the kind's check sees them resolved). */
int tcd_model_config_check(const tcd_model_kind *k, const void *cfg, const tcd_model_shape *shape, char *err,
                           size_t errlen);
/* {"kind": "bow", "dim": 16, ...}: every parameter in table order (malloc'd). */
char *tcd_model_config_json(const tcd_model_kind *k, const void *cfg);
/* The parameters as JSON members without braces ("\"dim\": 16, \"hidden\": 16"), for config.json. */
char *tcd_model_config_members(const tcd_model_kind *k, const void *cfg);
/* Parses what tcd_model_config_json wrote: the kind and a config struct (malloc'd). Returns 0; -1
 * for malformed JSON or a value of the wrong type (a damaged file); -2 for a kind or a parameter
 * this tcdist does not know (a newer tcdist wrote it); each with a message naming it. Missing
 * keys take the kind's defaults. Ranges are checked by tcd_model_config_check. */
int tcd_model_config_parse(const char *json, const tcd_model_kind **kind, void **cfg, char *err, size_t errlen);
/* A readable one-line description: "bow dim 16 hidden 16" (malloc'd). */
char *tcd_model_config_describe(const tcd_model_kind *k, const void *cfg);

/* ---- the model object (models/model.c) ---- */
/* Checks the config and lays out the tensors. No buffers yet. 0, or -1 with a message. */
int tcd_model_build(tcd_model *m, const tcd_model_kind *k, const void *cfg, const tcd_model_shape *shape,
                    uint64_t seed, char *err, size_t errlen);
/* Gives the model buffers of its own (gradients zeroed, parameters uninitialised). */
void tcd_model_alloc(tcd_model *m);
/* Points the model at buffers that another module owns (the exchange in training). acc may be NULL
 * unless the model is in deterministic mode. */
void tcd_model_bind(tcd_model *m, float *params, float *grads, int64_t *acc);
/* Whether the kind can hand over its embedding backward (kind->embedding_bag). */
int tcd_model_has_bag(const tcd_model *m);
/* Hands the embedding backward over (a kind with embedding_bag only): from now on backward writes
 * each document's embedding-gradient vector into vec (float, [cap_docs x D]) or, in deterministic
 * mode, fix (int64 fixed point), and adds nothing to tensor 0's rows of grads or acc. A batch of more
 * than cap_docs documents is an error. */
void tcd_model_bind_bag(tcd_model *m, float *vec, int64_t *fix, int64_t cap_docs);
/* After tcd_model_bind_bag: whether the next backwards hand over (1, the default) or add tensor 0's
 * rows themselves (0), step by step (the shared exchange's TCDIST_SHARED_PATH=ranks asks for 0). */
void tcd_model_hand_over(tcd_model *m, int on);
void tcd_model_free(tcd_model *m);
/* Used by a kind's layout: appends a tensor. */
void tcd_model_add_tensor(tcd_model *m, const char *name, int64_t rows, int64_t cols, int rank, tcd_init_kind init,
                          double init_arg);
const tcd_tensor *tcd_model_tensor(const tcd_model *m, const char *name); /* NULL if absent */
/* Pointer to a tensor's first element in buf (params, grads or m/v), which the caller knows has
 * the flat layout. Dies naming the tensor when the layout lacks it (an internal error). */
float *tcd_model_view(const tcd_model *m, float *buf, const char *name);

/* Initial values, counter-based (see model.c for the exact recipe): a pure function of the seed,
 * the tensor's index and the element's index, never of threads. Writes all n_params floats. */
void tcd_model_init_params(const tcd_model *m, float *params);

/* Forward over a batch. Writes class probabilities into probs [n x C] when probs != NULL (for two
 * classes: [1-p, p]; one-vs-all: each class's own sigmoid, rows do not sum to 1). When the batch has
 * labels, returns the SUM of the per-document losses (one-vs-all: BCE summed over the classes; the
 * targets are the document's label set from b->multi, or one-hot of labels[i]) and keeps what
 * backward needs; otherwise returns 0. */
double tcd_model_forward(tcd_model *m, const tcd_batch *b, float *probs, int n_threads);
/* The gradient of scale * (sum of the batch's losses), for the batch of the last forward: ADDED
 * into m->grads, or in deterministic mode into m->acc as exact fixed point (see model.c; a
 * gradient that leaves the fixed-point range stops the run naming the tensor). scale is 1 / the
 * documents of the global batch, in (0, 1]. */
void tcd_model_backward(tcd_model *m, const tcd_batch *b, float scale, int n_threads);
void tcd_model_zero_grad(tcd_model *m);
/* A training forward of global step `step` (kinds with dropout draw their masks from the seed, the
 * step, the document's index in its corpus and the position: never from threads or ranks), or,
 * with on = 0, an inference forward (no dropout). The default is inference. */
void tcd_model_set_training(tcd_model *m, int on, int64_t step);
/* on = 1: forward uses the plain-loop kernels (each row summed in one fixed order, no BLAS), so a
 * document's activations do not depend on the rest of its batch, and backward goes to m->acc. */
void tcd_model_set_deterministic(tcd_model *m, int on);
/* The first tensor other than the row-sparse one whose gradient holds a NaN or an infinity, or
 * NULL. (The embedding gradient is a sum of those values' images, finite when they are.) */
const char *tcd_model_nonfinite_grad(const tcd_model *m);

/* Helpers for the kinds' workspaces. tcd_ws_array: aligned memory for n elements of `size` bytes
 * (at least one; aborts when out of memory, as every allocation). tcd_wave_rows: the most token rows
 * that any run of `docs` consecutive documents of a batch holds, xrow being the batch's first row
 * per document (n + 1 entries): what a backward that goes through the batch in waves of `docs`
 * documents needs for one wave's token gradients. */
void *tcd_ws_array(int64_t n, size_t size);
int64_t tcd_wave_rows(const int64_t *xrow, int64_t n, int64_t docs);
/* g[j] += parts[p·stride + j] for j < n, the partials p = 0 … n_parts−1 added in that order to every
 * element (so the sums do not depend on the threads). A worksharing loop: call it from every thread
 * of a parallel region, which it splits the elements over (it ends with the loop's barrier). */
void tcd_add_partials(float *g, const float *parts, int64_t n_parts, int64_t stride, int64_t n);

#endif
