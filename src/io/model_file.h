/* The trained-model file (HDF5): parameters plus everything eval, predict and serve need
 * (vocabulary, label names, tokenizer settings), so that a model file stands alone. Checkpoints
 * are a superset: the same groups plus optimizer state and counters.
 *
 * Layout (docs/formats.md, "Model file"):
 *   /params/<tensor>   float32, [rows, cols] or [rows]: the model's tensor table, in its order
 *   /vocab/words, /vocab/counts, /label_names   as in the corpus file (string tables, h5util.h)
 *   root attributes: format "tcdist-model", version, model (the kind), model_config (JSON: the
 *     kind and its parameters), n_classes, n_embeddings, vocab_size, n_buckets, seed, step (of
 *     training), the tokenizer settings, data_content_sha256, vocab_sha256, params_sha256, config
 *     (JSON of the run's settings), created_by; and each scalar model parameter (dim, hidden, ...)
 *     as an attribute of its own, for h5py users.
 * Versions: 1 (tcdist 0.1: bag model only, its dim and hidden as attributes, no model_config;
 * variable-length strings, HDF5 1.8 format) and 2 (model_config; the HDF5 1.10 format with
 * checksummed metadata, Fletcher32 on every dataset, string tables, fixed-length string
 * attributes); 3 is version 2 with the attribute loss = "ova" (a one-vs-all model, written as 3 so
 * that an older tcdist refuses it rather than reading its logits as a softmax; every other model
 * is still written as 2). Every version up to TCD_MODEL_VERSION is read. */
#ifndef TCD_MODEL_FILE_H
#define TCD_MODEL_FILE_H

#include "io/corpus.h"
#include "models/model.h"
#include "text/tokenize.h"

#define TCD_MODEL_FORMAT "tcdist-model"
#define TCD_MODEL_VERSION 3 /* the newest read; written: 3 for a one-vs-all model, else 2 */

typedef struct {
    tcd_model model; /* built, with buffers of its own and the stored parameters */
    int64_t version;
    int64_t step;    /* training steps behind these parameters (0 when unknown: version 1) */
    tcd_tok_opts tok;
    char **vocab;
    int64_t vocab_size;
    char **labels;
    int64_t n_classes;
    int64_t n_buckets;
    char data_sha256[65], vocab_sha256[65], params_sha256[65];
    char *model_config; /* {"kind": ..., ...} */
    char *config_json;  /* the training run's settings */
    char *path;
} tcd_model_file;

/* sha256 of the flat parameter buffer (raw float32 bytes, little-endian): compares runs. */
void tcd_params_sha256(const tcd_model *m, char out[65]);

/* Writes the model atomically (temporary name, fsync, rename). The vocabulary, labels and tokenizer
 * settings are copied from the training corpus; step is the training step of these parameters.
 * Returns 0, or -1 with a message. */
int tcd_model_save(const char *path, const tcd_model *m, int64_t step, const tcd_corpus *train,
                   const char *config_json, char *err, size_t errlen);
/* Loads MODEL.h5, or RUN_DIR/model.h5 when given a folder. Everything is checked before use: the
 * format and version, the shapes, the parameters against their stored sha256 and the vocabulary
 * against its vocab_sha256. */
int tcd_model_load(tcd_model_file *mf, const char *path, char *err, size_t errlen);
void tcd_model_file_free(tcd_model_file *mf);

#endif
