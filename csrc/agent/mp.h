/*
 * A fixed-buffer msgpack subset for the target agent (protocol/PROTOCOL.md §3): nil, bool,
 * ints (every width, minimal encoding on write, as Python's msgpack packs them), bin,
 * arrays and maps. The reader can skip any other type (str, float, ext) without recursion.
 * No heap, no libc beyond memcpy/memset; errors are sticky (`err`), so callers check once.
 */
#ifndef FWA_MP_H
#define FWA_MP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *p;
    uint32_t len, cap;
    int err; /* 1 once the buffer overflowed */
} fwa_mpw;

void fwa_mpw_init(fwa_mpw *w, uint8_t *buf, uint32_t cap);
void fwa_mpw_nil(fwa_mpw *w);
void fwa_mpw_bool(fwa_mpw *w, int v);
void fwa_mpw_uint(fwa_mpw *w, uint64_t v);
void fwa_mpw_int(fwa_mpw *w, int64_t v); /* non-negative values are packed as uint */
void fwa_mpw_bin(fwa_mpw *w, const uint8_t *p, uint32_t n);
void fwa_mpw_bin_header(fwa_mpw *w, uint32_t n); /* then n raw bytes with fwa_mpw_raw */
void fwa_mpw_raw(fwa_mpw *w, const uint8_t *p, uint32_t n);
void fwa_mpw_array(fwa_mpw *w, uint32_t n);
void fwa_mpw_map(fwa_mpw *w, uint32_t n);

/* Types the reader reports. */
enum { FWA_MP_NONE = 0, FWA_MP_NIL, FWA_MP_BOOL, FWA_MP_UINT, FWA_MP_INT, FWA_MP_BIN,
       FWA_MP_ARRAY, FWA_MP_MAP, FWA_MP_OTHER };

typedef struct {
    const uint8_t *p;
    uint32_t len, pos;
    int err; /* 1 once anything failed: truncated input, wrong type, out of range */
} fwa_mpr;

void fwa_mpr_init(fwa_mpr *r, const uint8_t *buf, uint32_t len);
int fwa_mpr_peek(const fwa_mpr *r); /* FWA_MP_* of the next object, NONE at end/error */
int fwa_mpr_nil(fwa_mpr *r);       /* consumes a nil if next; returns 1 if it did */
uint64_t fwa_mpr_uint(fwa_mpr *r, uint64_t max); /* err if negative, not an int, or > max */
int64_t fwa_mpr_int(fwa_mpr *r, int64_t lo, int64_t hi);
int fwa_mpr_bool(fwa_mpr *r);
/* Returns a pointer into the input and sets *n; err if longer than max. */
const uint8_t *fwa_mpr_bin(fwa_mpr *r, uint32_t *n, uint32_t max);
uint32_t fwa_mpr_array(fwa_mpr *r, uint32_t max);
uint32_t fwa_mpr_map(fwa_mpr *r, uint32_t max);
/* Skips one whole object (nested containers included) iteratively; bounded by the input. */
void fwa_mpr_skip(fwa_mpr *r);

#endif
