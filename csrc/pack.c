/* Table-driven batch encoder (pack.h): every byte of every record written from its slot. */
#include "pack.h"

#include <string.h>

#include "cper.h"

static int bad_slot(fw_pack_error *err, uint32_t i) {
    if (err)
        err->slot = i;
    return FW_PACK_E_SLOT;
}

/* Whether `v` (shifted right and masked) shifted left by the slot's lshift fits its size. */
static int fits_out(const fw_pack_slot *s, uint64_t v) {
    if (s->lshift && v > (UINT64_MAX >> s->lshift))
        return 0;
    v <<= s->lshift;
    return s->size == 8 || v >> (8u * s->size) == 0;
}

/* Whether every value up to `max` fits the slot once shifted and masked (bounded by both). */
static int fits(const fw_pack_slot *s, uint64_t max) {
    uint64_t v = max >> s->rshift;
    return fits_out(s, v < s->mask ? v : s->mask);
}

int fw_pack_check(const fw_pack_plan *p, fw_pack_error *err) {
    uint32_t pos = 0, i, valid_size = 0;
    int stores_done = 0;
    if (!p || (p->nslots && !p->slots) || (p->ncols && !p->col_max) ||
        p->ncols > FW_PACK_MAX_COLUMNS || (p->pool_len && !p->pool))
        return bad_slot(err, 0);
    for (i = 0; i < p->nslots; i++) /* the validation word's size bounds every vbit */
        if (p->slots[i].src == FW_PACK_VALID) {
            if (valid_size)
                return bad_slot(err, i); /* a second validation word */
            valid_size = p->slots[i].size;
        }
    for (i = 0; i < p->nslots; i++) {
        const fw_pack_slot *s = &p->slots[i];
        int is_or = (s->flags & FW_PACK_OR) != 0;
        if (s->flags & ~(FW_PACK_OR | FW_PACK_VBIT_IF_NONZERO))
            return bad_slot(err, i);
        if (s->size == 0 || s->off > p->record_size || s->size > p->record_size - s->off)
            return bad_slot(err, i); /* past the end of the record */
        if (is_or) {
            stores_done = 1;
        } else {
            if (stores_done || s->off != pos)
                return bad_slot(err, i); /* store slots tile the record, in order */
            pos = s->off + s->size;
        }
        if (s->vbit < -1 || (s->vbit >= 0 && (uint32_t)s->vbit >= 8u * valid_size))
            return bad_slot(err, i);
        if (s->src == FW_PACK_BYTES) {
            if (is_or || (s->vbit >= 0 && (s->flags & FW_PACK_VBIT_IF_NONZERO)) ||
                s->value > p->pool_len || s->size > p->pool_len - s->value)
                return bad_slot(err, i);
            continue;
        }
        if (s->size > 8 || s->rshift > 63 || s->lshift > 63)
            return bad_slot(err, i);
        switch (s->src) {
        case FW_PACK_CONST:
            if (!fits_out(s, s->value >> s->rshift & s->mask))
                return bad_slot(err, i); /* a constant its size cannot hold */
            break;
        case FW_PACK_COLUMN:
            if (s->col >= p->ncols || !fits(s, p->col_max[s->col]))
                return bad_slot(err, i);
            break;
        case FW_PACK_VALID:
            if (is_or || s->vbit >= 0 || s->rshift || s->lshift || !fits_out(s, s->value & s->mask))
                return bad_slot(err, i);
            break;
        default:
            return bad_slot(err, i);
        }
    }
    if (pos != p->record_size)
        return bad_slot(err, p->nslots); /* the store slots stop short of the record's end */
    return FW_OK;
}

/* v as a little-endian integer of n (1..8) bytes; the usual sizes in one store. */
static inline void put_le(uint8_t *dst, uint64_t v, uint32_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint16_t v16 = (uint16_t)v;
    uint32_t v32 = (uint32_t)v;
    switch (n) {
    case 8: memcpy(dst, &v, 8); return;
    case 4: memcpy(dst, &v32, 4); return;
    case 2: memcpy(dst, &v16, 2); return;
    case 1: dst[0] = (uint8_t)v; return;
    default: break;
    }
#endif
    for (uint32_t b = 0; b < n; b++)
        dst[b] = (uint8_t)(v >> (8u * b));
}

static inline uint64_t slot_value(const fw_pack_slot *s, const uint64_t *const *cols, size_t i,
                                  uint64_t valid) {
    uint64_t v = s->src == FW_PACK_COLUMN ? cols[s->col][i] : s->src == FW_PACK_VALID ? valid : s->value;
    return (v >> s->rshift & s->mask) << s->lshift;
}

int fw_pack_columns(const fw_pack_plan *p, const uint64_t *const *cols, size_t n, uint8_t *out,
                    size_t cap, fw_pack_error *err) {
    uint64_t always = 0, valid_base = 0;
    size_t i;
    uint32_t c, k, cond[16], ncond = 0; /* the slots whose bit depends on the value */
    int rc = fw_pack_check(p, err), conditional = 0;
    if (rc != FW_OK)
        return rc;
    if (n && p->record_size > cap / n)
        return FW_E_NOSPACE;
    for (c = 0; c < p->ncols; c++)
        if (n && !cols[c])
            return bad_slot(err, 0);
    /* The bits of the fields present in every record, once; the conditional ones per record. */
    for (k = 0; k < p->nslots; k++) {
        const fw_pack_slot *s = &p->slots[k];
        if (s->src == FW_PACK_VALID)
            valid_base = s->value;
        else if (s->vbit >= 0 && (s->flags & FW_PACK_VBIT_IF_NONZERO)) {
            if (ncond < sizeof cond / sizeof cond[0])
                cond[ncond++] = k;
            else
                conditional = 1; /* too many to list: each record walks the table */
        }
        else if (s->vbit >= 0)
            always |= 1ull << s->vbit;
    }
    for (i = 0; i < n; i++) {
        uint8_t *rec = out + i * p->record_size;
        uint64_t valid = valid_base | always;
        for (c = 0; c < p->ncols; c++)
            if (cols[c][i] > p->col_max[c]) {
                if (err) {
                    err->col = c;
                    err->index = i;
                    err->value = cols[c][i];
                }
                return FW_PACK_E_RANGE;
            }
        if (conditional) {
            for (k = 0; k < p->nslots; k++) {
                const fw_pack_slot *s = &p->slots[k];
                if (s->vbit >= 0 && (s->flags & FW_PACK_VBIT_IF_NONZERO) && slot_value(s, cols, i, 0))
                    valid |= 1ull << s->vbit;
            }
        } else {
            for (k = 0; k < ncond; k++) {
                const fw_pack_slot *s = &p->slots[cond[k]];
                if (slot_value(s, cols, i, 0))
                    valid |= 1ull << s->vbit;
            }
        }
        for (k = 0; k < p->nslots; k++) {
            const fw_pack_slot *s = &p->slots[k];
            uint8_t *dst = rec + s->off;
            uint64_t v;
            uint32_t b;
            if (s->src == FW_PACK_BYTES) {
                memcpy(dst, p->pool + s->value, s->size);
                continue;
            }
            v = slot_value(s, cols, i, valid);
            if (s->flags & FW_PACK_OR)
                for (b = 0; b < s->size; b++)
                    dst[b] |= (uint8_t)(v >> (8u * b));
            else
                put_le(dst, v, s->size);
        }
    }
    return FW_OK;
}
