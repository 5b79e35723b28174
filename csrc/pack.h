/* Table-driven batch encoder: N records of one fixed size, each written slot by slot from
 * field values, the values that change from record to record given as columns of uint64.
 *
 * A plan is a table of slots. Each slot writes one field of the record:
 *   FW_PACK_CONST   a constant value (a field the batch does not vary);
 *   FW_PACK_COLUMN  record i's value in column `col` (a field the batch varies);
 *   FW_PACK_BYTES   `size` bytes from the plan's pool at offset `value` (a byte field, a
 *                   reserved span, or a tail identical for every record);
 *   FW_PACK_VALID   the validation word: `value` (the bits no slot derives) | the `vbit` of
 *                   every slot whose field is present.
 * A value slot writes ((v >> rshift) & mask) << lshift as a little-endian integer of `size`
 * (1..8) bytes. The store slots come first, in offset order, and tile the record exactly
 * (no gap, no overlap, ending at record_size); FW_PACK_OR slots follow them and OR their
 * value into bytes a store slot wrote (bit fields sharing a byte).
 * A slot's `vbit` (-1: none) is set in the validation word when its field is present: always,
 * or with FW_PACK_VBIT_IF_NONZERO only when the slot's value is not zero (a field that
 * claims a bit of its own only when it needs it, as a memory row past 16 bits).
 * Each column has a maximum; a value above it stops the batch (FW_PACK_E_RANGE, with the
 * column and record index in the error). */
#ifndef FWEMU_PACK_H
#define FWEMU_PACK_H

#include <stddef.h>
#include <stdint.h>

#define FW_PACK_CONST 0
#define FW_PACK_COLUMN 1
#define FW_PACK_BYTES 2
#define FW_PACK_VALID 3

#define FW_PACK_OR 0x1u              /* OR into the bytes a store slot wrote */
#define FW_PACK_VBIT_IF_NONZERO 0x2u /* vbit only when the slot's value is not zero */

#define FW_PACK_E_SLOT (-30)   /* the slot table is malformed (the slot index in the error) */
#define FW_PACK_E_RANGE (-31)  /* a column value is above its maximum */
#define FW_PACK_MAX_COLUMNS 64u

typedef struct {
    uint32_t off;    /* byte offset in the record */
    uint32_t size;   /* bytes: 1..8 for a value slot, any for FW_PACK_BYTES */
    uint32_t src;    /* FW_PACK_CONST / COLUMN / BYTES / VALID */
    uint32_t flags;  /* FW_PACK_OR, FW_PACK_VBIT_IF_NONZERO */
    int32_t vbit;    /* validation bit this field sets when present, -1: none */
    uint32_t col;    /* FW_PACK_COLUMN: the column */
    uint32_t rshift, lshift;
    uint64_t mask;
    uint64_t value;  /* CONST: the value; BYTES: pool offset; VALID: bits no slot derives */
} fw_pack_slot;

typedef struct {
    const fw_pack_slot *slots;
    uint32_t nslots;
    uint32_t record_size;
    const uint8_t *pool;
    uint32_t pool_len;
    uint32_t ncols;
    const uint64_t *col_max;   /* ncols maxima */
} fw_pack_plan;

typedef struct {
    uint32_t slot;    /* FW_PACK_E_SLOT: the first bad slot */
    uint32_t col;     /* FW_PACK_E_RANGE: the column ... */
    uint64_t index;   /* ... the record ... */
    uint64_t value;   /* ... and its value */
} fw_pack_error;

/* FW_OK, or FW_PACK_E_SLOT with err->slot naming the first slot that is out of the record,
 * out of the pool, overlaps or leaves a gap, names a missing column, a second validation
 * word or a bit outside it, or holds a constant its size cannot. */
int fw_pack_check(const fw_pack_plan *p, fw_pack_error *err);

/* n records into out[0 .. n * record_size): record i from cols[c][i] for each column c.
 * Returns FW_OK, FW_PACK_E_SLOT, FW_PACK_E_RANGE (the first bad value in record order,
 * then column order; out's content is then unspecified) or FW_E_NOSPACE. */
int fw_pack_columns(const fw_pack_plan *p, const uint64_t *const *cols, size_t n, uint8_t *out,
                    size_t cap, fw_pack_error *err);

#endif
