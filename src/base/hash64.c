/* Fast 64-bit content hash; see hash64.h. */
#include "base/hash64.h"

#include <string.h>

static const uint64_t K1 = 0x9E3779B185EBCA87ull, K2 = 0xC2B2AE3D27D4EB4Full, K3 = 0x165667B19E3779F9ull,
                      K4 = 0x85EBCA77C2B2AE63ull, K5 = 0x27D4EB2F165667C5ull;

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t read64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8); /* little-endian hosts only: x86-64, aarch64 */
    return v;
}
static inline uint64_t round64(uint64_t acc, uint64_t w) { return rotl(acc + w * K2, 31) * K1; }

void tcd_hash64_init(tcd_hash64 *h, uint64_t seed) {
    h->lane[0] = seed + K1 + K2;
    h->lane[1] = seed + K2;
    h->lane[2] = seed;
    h->lane[3] = seed - K1;
    h->n_buf = 0;
    h->n_bytes = 0;
}

static void stripe(uint64_t lane[4], const uint8_t *p) {
    lane[0] = round64(lane[0], read64(p));
    lane[1] = round64(lane[1], read64(p + 8));
    lane[2] = round64(lane[2], read64(p + 16));
    lane[3] = round64(lane[3], read64(p + 24));
}

void tcd_hash64_update(tcd_hash64 *h, const void *data, size_t n) {
    const uint8_t *p = data;
    h->n_bytes += n;
    if (h->n_buf) {
        size_t take = 32 - h->n_buf < n ? 32 - h->n_buf : n;
        memcpy(h->buf + h->n_buf, p, take);
        h->n_buf += take;
        p += take;
        n -= take;
        if (h->n_buf < 32) return;
        stripe(h->lane, h->buf);
        h->n_buf = 0;
    }
    uint64_t l[4] = {h->lane[0], h->lane[1], h->lane[2], h->lane[3]};
    for (; n >= 32; p += 32, n -= 32) stripe(l, p);
    memcpy(h->lane, l, sizeof l);
    memcpy(h->buf, p, n);
    h->n_buf = n;
}

uint64_t tcd_hash64_final(const tcd_hash64 *h) {
    uint64_t acc = rotl(h->lane[0], 1) + rotl(h->lane[1], 7) + rotl(h->lane[2], 12) + rotl(h->lane[3], 18);
    for (int i = 0; i < 4; i++) acc = (acc ^ round64(0, h->lane[i])) * K1 + K4;
    acc += h->n_bytes;
    size_t i = 0;
    for (; i + 8 <= h->n_buf; i += 8) acc = rotl(acc ^ round64(0, read64(h->buf + i)), 27) * K1 + K4;
    for (; i < h->n_buf; i++) acc = rotl(acc ^ (h->buf[i] * K5), 11) * K1;
    acc ^= acc >> 33;
    acc *= K2;
    acc ^= acc >> 29;
    acc *= K3;
    acc ^= acc >> 32;
    return acc;
}

void tcd_hash64_field(tcd_hash64 *h, const void *data, size_t n) {
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)n >> (8 * i));
    tcd_hash64_update(h, len, 8);
    tcd_hash64_update(h, data, n);
}
