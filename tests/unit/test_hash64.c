/* hash64: streaming equals one-shot for every split, every single-bit flip and every truncation of
 * a buffer changes the hash, and it is fast. */
#include "check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash64.h"
#include "base/util.h"

static uint64_t one_shot(const void *p, size_t n) {
    tcd_hash64 h;
    tcd_hash64_init(&h, 1);
    tcd_hash64_update(&h, p, n);
    return tcd_hash64_final(&h);
}

int main(void) {
    enum { N = 1000 };
    uint8_t buf[N];
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (uint8_t)(s >> 56);
    }
    const uint64_t ref = one_shot(buf, N);
    for (size_t a = 0; a <= N; a += 7)
        for (size_t b = a; b <= N; b += 31) {
            tcd_hash64 h;
            tcd_hash64_init(&h, 1);
            tcd_hash64_update(&h, buf, a);
            tcd_hash64_update(&h, buf + a, b - a);
            tcd_hash64_update(&h, buf + b, N - b);
            CHECK(tcd_hash64_final(&h) == ref);
        }
    for (int i = 0; i < N * 8; i++) {
        buf[i / 8] ^= (uint8_t)(1u << (i % 8));
        CHECK(one_shot(buf, N) != ref);
        buf[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    for (size_t n = 0; n < N; n++) CHECK(one_shot(buf, n) != ref);
    tcd_hash64 h;
    tcd_hash64_init(&h, 2);
    tcd_hash64_update(&h, buf, N);
    CHECK(tcd_hash64_final(&h) != ref); /* the seed matters */
    size_t big = (size_t)64 << 20;
    char *mem = calloc(big, 1);
    CHECK(mem);
    double t0 = tcd_now();
    volatile uint64_t x = one_shot(mem, big);
    (void)x;
    printf("hash64: %.0f MB/s\n", (double)big / 1e6 / (tcd_now() - t0));
    free(mem);
    printf("test_hash64: ok\n");
    return 0;
}
