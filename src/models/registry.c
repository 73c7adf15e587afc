/* The model registry: every kind tcdist can train, load and serve. Adding a model is one file in
 * models/ that defines `const tcd_model_kind tcd_model_<name>` and one line in the list below
 * (docs/hacking.md walks through it). Nothing in cli/, train/, io/ or infer/ names a kind. */
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "models/model.h"

#define TCD_MODEL_KINDS(X) X(bow) X(cnn) X(transformer)

#define TCD_DECLARE_KIND(name) extern const tcd_model_kind tcd_model_##name;
TCD_MODEL_KINDS(TCD_DECLARE_KIND)

#define TCD_LIST_KIND(name) &tcd_model_##name,
static const tcd_model_kind *const kinds[] = {TCD_MODEL_KINDS(TCD_LIST_KIND)};
#define N_KINDS ((int)(sizeof kinds / sizeof kinds[0]))

int tcd_model_n_kinds(void) { return N_KINDS; }

const tcd_model_kind *tcd_model_kind_at(int i) { return i >= 0 && i < N_KINDS ? kinds[i] : NULL; }

const tcd_model_kind *tcd_model_kind_find(const char *name) {
    for (int i = 0; i < N_KINDS; i++)
        if (!strcmp(kinds[i]->name, name)) return kinds[i];
    return NULL;
}

const char *tcd_model_kind_names(void) {
    static char names[256];
    if (!names[0]) {
        size_t n = 0;
        for (int i = 0; i < N_KINDS; i++)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? "|" : "", kinds[i]->name);
    }
    return names;
}
