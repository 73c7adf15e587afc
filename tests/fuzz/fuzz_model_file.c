/* Loading a model file as predict, eval and the server do (the input is the whole file), then
 * predicting one text with it. Seeds are real small models (seeds/model_file/). */
#include "data/batch.h"
#include "fuzz_common.h"
#include "infer/predictor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_tmp_file(data, size, ".h5");
    char err[2048] = "";
    int q = fuzz_quiet_begin();
    tcd_predictor *p = tcd_predictor_open(path, err, sizeof err);
    if (p) {
        tcd_encoder e = {0};
        const int32_t *ids = NULL;
        const char *why = NULL;
        static const char text[] = "a good film, not bad at all";
        int64_t n = tcd_predictor_encode(p, &e, text, sizeof text - 1, &ids, &why);
        if (n > 0) {
            int64_t off[2] = {0, n};
            tcd_batch b = {0};
            b.n = 1;
            b.tokens = ids;
            b.offsets = off;
            const int64_t C = tcd_predictor_n_classes(p);
            float *probs = malloc(sizeof(float) * (size_t)C);
            tcd_predictor_forward(p, &b, probs, 1);
            free(probs);
        }
        tcd_encoder_free(&e);
        tcd_predictor_free(p);
    } else if (!strstr(err, path)) {
        abort(); /* errors name the file */
    }
    fuzz_quiet_end(q);
    return 0;
}
