/* The model-config JSON that model and checkpoint files store (src/models/config.c, jansson): the
 * input is the JSON text. A config that parses must build a tensor table on a small shape or be
 * refused with a message, and its canonical JSON must parse back to the same JSON. */
#include "fuzz_common.h"
#include "models/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *json = malloc(size + 1);
    memcpy(json, data, size);
    json[size] = 0;
    const tcd_model_kind *kind = NULL;
    void *cfg = NULL;
    char err[1024] = "";
    if (tcd_model_config_parse(json, &kind, &cfg, err, sizeof err) == 0) {
        char *again = tcd_model_config_json(kind, cfg);
        const tcd_model_kind *k2 = NULL;
        void *cfg2 = NULL;
        if (tcd_model_config_parse(again, &k2, &cfg2, err, sizeof err) != 0 || k2 != kind) abort();
        char *third = tcd_model_config_json(k2, cfg2);
        if (strcmp(again, third) != 0) abort(); /* not a fixed point: a file would change on re-save */
        char *desc = tcd_model_config_describe(kind, cfg);
        free(desc);
        tcd_model m;
        tcd_model_shape shape = {.n_embeddings = 50, .n_classes = 3};
        memset(&m, 0, sizeof m);
        if (tcd_model_build(&m, kind, cfg, &shape, 1, err, sizeof err) == 0) {
            if (m.n_params <= 0) abort();
            tcd_model_free(&m);
        } else if (!err[0]) {
            abort();
        }
        free(third);
        free(again);
        free(cfg2);
        free(cfg);
    } else if (!err[0]) {
        abort(); /* a refusal says why */
    }
    free(json);
    return 0;
}
