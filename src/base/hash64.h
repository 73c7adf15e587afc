/* A fast 64-bit content hash for corruption checks (checkpoints): four independent lanes over
 * 32-byte stripes, each a multiply-rotate-multiply round, merged and avalanched at the end. Several
 * GB/s on one core, where sha256 manages a few hundred MB/s. Not cryptographic: it detects damage
 * (bit flips, truncation, stale data), not tampering. Streaming: the result depends only on the
 * bytes, not on how they were split into updates. */
#ifndef TCD_HASH64_H
#define TCD_HASH64_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t lane[4];
    uint8_t buf[32];
    size_t n_buf;
    uint64_t n_bytes;
} tcd_hash64;

void tcd_hash64_init(tcd_hash64 *h, uint64_t seed);
void tcd_hash64_update(tcd_hash64 *h, const void *data, size_t n);
uint64_t tcd_hash64_final(const tcd_hash64 *h);
/* Length-prefixed field (u64 little-endian length, then the bytes), as tcd_sha256_field. */
void tcd_hash64_field(tcd_hash64 *h, const void *data, size_t n);

#endif
