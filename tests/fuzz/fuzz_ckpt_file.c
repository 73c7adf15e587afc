/* Reading a checkpoint as inspect and resume do (the input is the whole file): the info with its
 * checksum pass, then a load into a model built from the stored configuration. Seeds are real
 * small checkpoints (seeds/ckpt_file/). */
#include "fuzz_common.h"
#include "io/checkpoint.h"
#include "models/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_tmp_file(data, size, ".h5");
    char err[2048] = "";
    int q = fuzz_quiet_begin();
    tcd_ckpt_info info;
    if (tcd_ckpt_read_info(path, &info, err, sizeof err) == 0) {
        const tcd_model_kind *kind = NULL;
        void *cfg = NULL;
        if (tcd_model_config_parse(info.model_config, &kind, &cfg, err, sizeof err) != 0) abort(); /* it verified */
        tcd_model m;
        memset(&m, 0, sizeof m);
        tcd_model_shape shape = {.n_embeddings = info.n_embeddings, .n_classes = info.n_classes};
        if (tcd_model_build(&m, kind, cfg, &shape, 1, err, sizeof err) != 0) abort();
        tcd_model_alloc(&m);
        float *mo = malloc(sizeof(float) * (size_t)m.n_params), *vo = malloc(sizeof(float) * (size_t)m.n_params);
        tcd_ckpt_optim o = {.m = mo, .v = vo};
        tcd_ckpt_state st;
        if (tcd_ckpt_load(path, &m, m.params, &o, &st, err, sizeof err) == 0) tcd_ckpt_state_free(&st);
        free(mo);
        free(vo);
        free(cfg);
        tcd_model_free(&m);
        tcd_ckpt_info_free(&info);
    } else if (!strstr(err, path)) {
        abort();
    }
    fuzz_quiet_end(q);
    return 0;
}
