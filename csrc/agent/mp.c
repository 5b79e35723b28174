/* The agent's msgpack subset (mp.h). */
#include "mp.h"

#include <string.h>

/* ---- writer ------------------------------------------------------------------------- */
void fwa_mpw_init(fwa_mpw *w, uint8_t *buf, uint32_t cap) {
    w->p = buf;
    w->len = 0;
    w->cap = cap;
    w->err = 0;
}

static void put(fwa_mpw *w, uint8_t b) {
    if (w->err || w->len >= w->cap) {
        w->err = 1;
        return;
    }
    w->p[w->len++] = b;
}

static void put_be(fwa_mpw *w, uint64_t v, unsigned bytes) {
    while (bytes--) put(w, (uint8_t)(v >> (8 * bytes)));
}

void fwa_mpw_raw(fwa_mpw *w, const uint8_t *p, uint32_t n) {
    if (w->err || n > w->cap - w->len) {
        w->err = 1;
        return;
    }
    if (n) memcpy(w->p + w->len, p, n);
    w->len += n;
}

void fwa_mpw_nil(fwa_mpw *w) { put(w, 0xC0); }
void fwa_mpw_bool(fwa_mpw *w, int v) { put(w, v ? 0xC3 : 0xC2); }

void fwa_mpw_uint(fwa_mpw *w, uint64_t v) {
    if (v < 0x80) {
        put(w, (uint8_t)v);
    } else if (v <= 0xFF) {
        put(w, 0xCC);
        put_be(w, v, 1);
    } else if (v <= 0xFFFF) {
        put(w, 0xCD);
        put_be(w, v, 2);
    } else if (v <= 0xFFFFFFFFu) {
        put(w, 0xCE);
        put_be(w, v, 4);
    } else {
        put(w, 0xCF);
        put_be(w, v, 8);
    }
}

void fwa_mpw_int(fwa_mpw *w, int64_t v) {
    if (v >= 0) {
        fwa_mpw_uint(w, (uint64_t)v);
    } else if (v >= -32) {
        put(w, (uint8_t)(0xE0 | (v + 32)));
    } else if (v >= -128) {
        put(w, 0xD0);
        put_be(w, (uint64_t)v, 1);
    } else if (v >= -32768) {
        put(w, 0xD1);
        put_be(w, (uint64_t)v, 2);
    } else if (v >= -2147483647 - 1) {
        put(w, 0xD2);
        put_be(w, (uint64_t)v, 4);
    } else {
        put(w, 0xD3);
        put_be(w, (uint64_t)v, 8);
    }
}

void fwa_mpw_bin_header(fwa_mpw *w, uint32_t n) {
    if (n <= 0xFF) {
        put(w, 0xC4);
        put_be(w, n, 1);
    } else if (n <= 0xFFFF) {
        put(w, 0xC5);
        put_be(w, n, 2);
    } else {
        put(w, 0xC6);
        put_be(w, n, 4);
    }
}

void fwa_mpw_bin(fwa_mpw *w, const uint8_t *p, uint32_t n) {
    fwa_mpw_bin_header(w, n);
    fwa_mpw_raw(w, p, n);
}

static void container(fwa_mpw *w, uint32_t n, uint8_t fix, uint8_t c16, uint8_t c32) {
    if (n <= 15) {
        put(w, (uint8_t)(fix | n));
    } else if (n <= 0xFFFF) {
        put(w, c16);
        put_be(w, n, 2);
    } else {
        put(w, c32);
        put_be(w, n, 4);
    }
}

void fwa_mpw_array(fwa_mpw *w, uint32_t n) { container(w, n, 0x90, 0xDC, 0xDD); }
void fwa_mpw_map(fwa_mpw *w, uint32_t n) { container(w, n, 0x80, 0xDE, 0xDF); }

/* ---- reader ------------------------------------------------------------------------- */
void fwa_mpr_init(fwa_mpr *r, const uint8_t *buf, uint32_t len) {
    r->p = buf;
    r->len = len;
    r->pos = 0;
    r->err = 0;
}

static int have(fwa_mpr *r, uint32_t n) {
    if (r->err || n > r->len - r->pos) {
        r->err = 1;
        return 0;
    }
    return 1;
}

static uint64_t get_be(fwa_mpr *r, unsigned bytes) {
    uint64_t v = 0;
    if (!have(r, bytes)) return 0;
    for (unsigned i = 0; i < bytes; i++) v = (v << 8) | r->p[r->pos++];
    return v;
}

int fwa_mpr_peek(const fwa_mpr *r) {
    if (r->err || r->pos >= r->len) return FWA_MP_NONE;
    uint8_t b = r->p[r->pos];
    if (b <= 0x7F || b == 0xCC || b == 0xCD || b == 0xCE || b == 0xCF) return FWA_MP_UINT;
    if (b >= 0xE0 || (b >= 0xD0 && b <= 0xD3)) return FWA_MP_INT;
    if (b == 0xC0) return FWA_MP_NIL;
    if (b == 0xC2 || b == 0xC3) return FWA_MP_BOOL;
    if (b >= 0xC4 && b <= 0xC6) return FWA_MP_BIN;
    if ((b & 0xF0) == 0x90 || b == 0xDC || b == 0xDD) return FWA_MP_ARRAY;
    if ((b & 0xF0) == 0x80 || b == 0xDE || b == 0xDF) return FWA_MP_MAP;
    return FWA_MP_OTHER;
}

int fwa_mpr_nil(fwa_mpr *r) {
    if (fwa_mpr_peek(r) != FWA_MP_NIL) return 0;
    r->pos++;
    return 1;
}

/* Reads any integer as (negative flag, magnitude-or-value). */
static int read_int(fwa_mpr *r, int *neg, uint64_t *u, int64_t *s) {
    if (!have(r, 1)) return 0;
    uint8_t b = r->p[r->pos++];
    *neg = 0;
    if (b <= 0x7F) {
        *u = b;
    } else if (b >= 0xE0) {
        *neg = 1;
        *s = (int64_t)(int8_t)b;
    } else if (b >= 0xCC && b <= 0xCF) {
        *u = get_be(r, 1u << (b - 0xCC));
    } else if (b >= 0xD0 && b <= 0xD3) {
        unsigned bytes = 1u << (b - 0xD0);
        uint64_t raw = get_be(r, bytes);
        int64_t v;
        if (bytes == 1) v = (int8_t)raw;
        else if (bytes == 2) v = (int16_t)raw;
        else if (bytes == 4) v = (int32_t)raw;
        else v = (int64_t)raw;
        if (v >= 0) *u = (uint64_t)v;
        else {
            *neg = 1;
            *s = v;
        }
    } else {
        r->err = 1;
        return 0;
    }
    return !r->err;
}

uint64_t fwa_mpr_uint(fwa_mpr *r, uint64_t max) {
    int neg;
    uint64_t u = 0;
    int64_t s = 0;
    if (!read_int(r, &neg, &u, &s)) return 0;
    if (neg || u > max) {
        r->err = 1;
        return 0;
    }
    return u;
}

int64_t fwa_mpr_int(fwa_mpr *r, int64_t lo, int64_t hi) {
    int neg;
    uint64_t u = 0;
    int64_t s = 0;
    if (!read_int(r, &neg, &u, &s)) return 0;
    if (!neg) {
        if (u > (uint64_t)INT64_MAX) {
            r->err = 1;
            return 0;
        }
        s = (int64_t)u;
    }
    if (s < lo || s > hi) {
        r->err = 1;
        return 0;
    }
    return s;
}

int fwa_mpr_bool(fwa_mpr *r) {
    if (fwa_mpr_peek(r) != FWA_MP_BOOL) {
        r->err = 1;
        return 0;
    }
    return r->p[r->pos++] == 0xC3;
}

const uint8_t *fwa_mpr_bin(fwa_mpr *r, uint32_t *n, uint32_t max) {
    *n = 0;
    if (fwa_mpr_peek(r) != FWA_MP_BIN) {
        r->err = 1;
        return 0;
    }
    uint8_t b = r->p[r->pos++];
    uint32_t len = (uint32_t)get_be(r, 1u << (b - 0xC4));
    if (r->err || len > max || !have(r, len)) {
        r->err = 1;
        return 0;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += len;
    *n = len;
    return p;
}

static uint32_t read_container(fwa_mpr *r, uint32_t max, int kind, uint8_t fix) {
    if (fwa_mpr_peek(r) != kind) {
        r->err = 1;
        return 0;
    }
    uint8_t b = r->p[r->pos++];
    uint32_t n;
    if ((b & 0xF0) == fix) n = b & 0x0F;
    else if (b == 0xDC || b == 0xDE) n = (uint32_t)get_be(r, 2);
    else n = (uint32_t)get_be(r, 4);
    if (r->err || n > max) {
        r->err = 1;
        return 0;
    }
    return n;
}

uint32_t fwa_mpr_array(fwa_mpr *r, uint32_t max) { return read_container(r, max, FWA_MP_ARRAY, 0x90); }
uint32_t fwa_mpr_map(fwa_mpr *r, uint32_t max) { return read_container(r, max, FWA_MP_MAP, 0x80); }

/* Skip: a count of objects still to skip replaces recursion. Every container's items are
 * at least one byte each, so a count larger than the bytes left is an error at once. */
void fwa_mpr_skip(fwa_mpr *r) {
    uint64_t todo = 1;
    while (todo && !r->err) {
        todo--;
        if (!have(r, 1)) return;
        uint8_t b = r->p[r->pos++];
        uint64_t skip = 0, items = 0;
        if (b <= 0x7F || b >= 0xE0 || b == 0xC0 || b == 0xC2 || b == 0xC3) {
            skip = 0;
        } else if ((b & 0xF0) == 0x90) {
            items = b & 0x0F;
        } else if ((b & 0xF0) == 0x80) {
            items = 2u * (b & 0x0F);
        } else if ((b & 0xE0) == 0xA0) { /* fixstr */
            skip = b & 0x1F;
        } else {
            switch (b) {
            case 0xC4: case 0xD9: skip = get_be(r, 1); break; /* bin8, str8 */
            case 0xC5: case 0xDA: skip = get_be(r, 2); break;
            case 0xC6: case 0xDB: skip = get_be(r, 4); break;
            case 0xC7: skip = get_be(r, 1) + 1; break; /* ext8: len, type */
            case 0xC8: skip = get_be(r, 2) + 1; break;
            case 0xC9: skip = get_be(r, 4) + 1; break;
            case 0xCA: skip = 4; break;
            case 0xCB: skip = 8; break;
            case 0xCC: case 0xD0: skip = 1; break;
            case 0xCD: case 0xD1: skip = 2; break;
            case 0xCE: case 0xD2: skip = 4; break;
            case 0xCF: case 0xD3: skip = 8; break;
            case 0xD4: skip = 2; break; /* fixext 1..16 (+ type byte) */
            case 0xD5: skip = 3; break;
            case 0xD6: skip = 5; break;
            case 0xD7: skip = 9; break;
            case 0xD8: skip = 17; break;
            case 0xDC: items = get_be(r, 2); break;
            case 0xDD: items = get_be(r, 4); break;
            case 0xDE: items = 2 * get_be(r, 2); break;
            case 0xDF: items = 2 * get_be(r, 4); break;
            default: r->err = 1; return; /* 0xC1: never used */
            }
        }
        if (r->err) return;
        if (skip > r->len - r->pos) {
            r->err = 1;
            return;
        }
        r->pos += (uint32_t)skip;
        todo += items;
        if (todo > r->len - r->pos) { /* each pending object needs at least one byte */
            r->err = 1;
            return;
        }
    }
}
