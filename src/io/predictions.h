/* The predictions file (HDF5) written by `tcdist predict --data CORPUS.h5 -o OUT.h5`: the only
 * module that writes it. Layout (docs/formats.md, "Predictions file"):
 *   /labels         int32 [n_docs]              the predicted class of each document, in corpus order
 *   /probabilities  float32 [n_docs x n_classes] every class's probability
 *   /label_names    string table [n_classes]    class id -> label (as in the model file)
 *   root attributes: format "tcdist-predictions", version 1, n_docs, n_classes, model (the model
 *     file's path), params_sha256 (of the model), data (the corpus path), data_content_sha256,
 *     created_by.
 * Both datasets are chunked with a Fletcher32 checksum. Rows are written in order, a window at a
 * time, from one process. */
#ifndef TCD_PREDICTIONS_H
#define TCD_PREDICTIONS_H

#include <stddef.h>
#include <stdint.h>

#define TCD_PREDICTIONS_FORMAT "tcdist-predictions"
#define TCD_PREDICTIONS_VERSION 1

typedef struct {
    const char *model_path, *params_sha256, *data_path, *data_content_sha256;
    char *const *label_names;
    int64_t n_docs, n_classes;
} tcd_pred_meta;

typedef struct tcd_pred_file tcd_pred_file;

/* Creates (truncates) path with both datasets at their full size and the attributes. NULL with a
 * message in err. */
tcd_pred_file *tcd_pred_file_create(const char *path, const tcd_pred_meta *meta, char *err, size_t errlen);
/* Rows [doc0, doc0 + n): labels [n] and probs [n x n_classes]. 0, or -1 with a message. */
int tcd_pred_file_write(tcd_pred_file *p, int64_t doc0, int64_t n, const int32_t *labels, const float *probs,
                        char *err, size_t errlen);
/* Flushes and closes (0, or -1 with a message); the file is then complete. NULL-safe. */
int tcd_pred_file_close(tcd_pred_file *p, char *err, size_t errlen);

#endif
