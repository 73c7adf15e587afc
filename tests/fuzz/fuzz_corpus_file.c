/* Opening and reading a corpus file (the input is the whole file): open checks, every dataset
 * read through the checked reads (inspect --verify's path), and the training loader. Seeds are
 * real small corpora (seeds/corpus_file/); the fuzzer mutates their bytes. */
#include "data/loader.h"
#include "fuzz_common.h"
#include "io/corpus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_tmp_file(data, size, ".h5");
    char err[2048];
    tcd_corpus c;
    int q = fuzz_quiet_begin();
    if (tcd_corpus_open(&c, path, err, sizeof err) == 0) {
        if (tcd_corpus_verify(&c, err, sizeof err) != 0 && !strstr(err, path)) abort(); /* errors name the file */
        tcd_loader l;
        if (tcd_loader_open(&l, &c, 0, c.n_docs, 1, 1, err, sizeof err) == 0) tcd_loader_free(&l);
        tcd_corpus_close(&c);
    } else if (!strstr(err, path)) {
        abort();
    }
    fuzz_quiet_end(q);
    return 0;
}
