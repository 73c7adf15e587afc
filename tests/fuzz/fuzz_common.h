/* Shared by the fuzz targets (tests/fuzz/README.md). Each target defines LLVMFuzzerTestOneInput;
 * built with -DTCDIST_FUZZ=ON it links libFuzzer, otherwise replay_main.c drives it over the
 * committed seeds and regression inputs (a plain CTest test in every build). */
#ifndef TCD_FUZZ_COMMON_H
#define TCD_FUZZ_COMMON_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A per-process scratch file holding data (rewritten each call); its path, static storage. */
static inline const char *fuzz_tmp_file(const uint8_t *data, size_t size, const char *suffix) {
    static char path[256];
    if (!path[0]) {
        const char *dir = getenv("TCDIST_FUZZ_TMP");
        if (!dir) dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof path, "%s/tcdist-fuzz-%ld%s", dir, (long)getpid(), suffix);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) abort(); /* the machine, not the input: stop loudly */
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) abort();
        done += (size_t)w;
    }
    close(fd);
    return path;
}

/* Silences stderr (the messages tcdist prints for bad input) around a call; a crash inside still
 * leaves libFuzzer's crash file. */
static inline int fuzz_quiet_begin(void) {
    if (getenv("TCDIST_FUZZ_VERBOSE")) return -1;
    fflush(stderr);
    int saved = dup(2);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2(null, 2);
        close(null);
    }
    return saved;
}
static inline void fuzz_quiet_end(int saved) {
    if (saved < 0) return;
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}

#endif
