/* SHA-256 (FIPS 180-4), for content hashes of corpora, models and checkpoints. */
#ifndef TCD_SHA256_H
#define TCD_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t n_bytes;
    uint8_t block[64];
    size_t n_block;
} tcd_sha256;

void tcd_sha256_init(tcd_sha256 *s);
void tcd_sha256_update(tcd_sha256 *s, const void *data, size_t n);
void tcd_sha256_final(tcd_sha256 *s, uint8_t out[32]);
/* Final digest as 64 lowercase hex chars + NUL. */
void tcd_sha256_hex(tcd_sha256 *s, char out[65]);
/* Convenience: hash a length-prefixed field (u64 little-endian length, then bytes), so that
 * concatenated fields cannot be confused with each other. */
void tcd_sha256_field(tcd_sha256 *s, const void *data, size_t n);

#endif
