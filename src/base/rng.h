/* The one source of pseudo-random numbers: SplitMix64 (Steele, Lea and Flood 2014).
 * tcd_mix64 is its finaliser, a bijection of 64-bit words with full avalanche; tcd_splitmix64
 * steps a state by the golden-ratio increment and returns the mixed value. Everything random in
 * tcdist (initial weights, the epoch permutations, dropout masks, synthetic corpora) is a pure
 * function of a seed and counters through these two, so results never depend on threads or ranks. */
#ifndef TCD_RNG_H
#define TCD_RNG_H

#include <stdint.h>

#define TCD_GOLDEN_GAMMA 0x9E3779B97F4A7C15ULL

/* z += gamma; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
 * return z ^ (z >> 31)   (all arithmetic mod 2^64) */
static inline uint64_t tcd_mix64(uint64_t z) {
    z += TCD_GOLDEN_GAMMA;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The SplitMix64 generator: advances *state and returns the next value (= tcd_mix64 of the old
 * state, since the finaliser adds the same increment). */
static inline uint64_t tcd_splitmix64(uint64_t *state) {
    const uint64_t z = tcd_mix64(*state);
    *state += TCD_GOLDEN_GAMMA;
    return z;
}

/* A uniform float in [0, 1) with 24 random bits, from one 64-bit word. */
static inline double tcd_unit24(uint64_t r) { return (double)(r >> 40) * (1.0 / 16777216.0); }

#endif
