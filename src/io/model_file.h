/* The trained-model file (HDF5): parameters plus everything eval/predict need (vocabulary, label
 * names, tokenizer settings), so that a model file stands alone. Checkpoints (a later format) are
 * a superset: the same groups plus optimizer state and counters.
 *
 * Layout (README.md, "Model file"):
 *   /params/<tensor>   float32, [rows, cols] or [rows]: embedding, hidden.weight, hidden.bias,
 *                      out.weight, out.bias (Keras' shapes transposed: weight[out, in])
 *   /vocab/words, /vocab/counts, /label_names   as in the corpus file
 *   root attributes: format "tcdist-model", version 1, model "bow", dim, hidden, n_classes,
 *     n_embeddings, vocab_size, n_buckets, seed, the tokenizer settings, data_content_sha256,
 *     vocab_sha256, params_sha256, config (JSON of the run's settings), created_by. */
#ifndef TCD_MODELIO_H
#define TCD_MODELIO_H

#include <hdf5.h>

#include "io/corpus.h"
#include "models/model.h"
#include "text/tokenize.h"

#define TCD_MODEL_FORMAT "tcdist-model"
#define TCD_MODEL_VERSION 1

typedef struct {
    tcd_model model;
    tcd_tok_opts tok;
    char **vocab;
    int64_t vocab_size;
    char **labels;
    int64_t n_classes;
    int64_t n_buckets;
    char data_sha256[65], vocab_sha256[65], params_sha256[65];
    char *config_json;
    char *path;
} tcd_model_file;

/* sha256 of the flat parameter buffer (raw float32 bytes, little-endian): compares runs. */
void tcd_params_sha256(const tcd_model *m, char out[65]);

/* Writes the model atomically (temporary name, fsync, rename). The vocabulary, labels and tokenizer
 * settings are copied from the training corpus. Returns 0, or -1 with a message. */
int tcd_model_save(const char *path, const tcd_model *m, const tcd_corpus *train, const char *config_json,
                   char *err, size_t errlen);
/* Writes the datasets and attributes of a model into an open file (shared with checkpoints, which
 * carry their own checksum and pass with_params_sha = 0 to skip the sha256 pass). */
int tcd_model_write_into(hid_t f, const tcd_model *m, const tcd_corpus *train, const char *config_json,
                         int with_params_sha);

/* Loads MODEL.h5, or RUN_DIR/model.h5 when given a folder. */
int tcd_model_load(tcd_model_file *mf, const char *path, char *err, size_t errlen);
void tcd_model_file_free(tcd_model_file *mf);

#endif
