/* The slot-table batch encoder (pack.c): records written slot by slot from columns, the
 * validation word derived per record, bad values and malformed tables refused. */
#include <stdio.h>
#include <string.h>

#include "cper.h"
#include "pack.h"
#include "tests/check.h"

#define U64 0xFFFFFFFFFFFFFFFFull

/* A 16-byte record:
 *  0  u16 validation word: constant bit 15, bit 0 (a, always), bit 1 (b), bit 2 (c's high
 *     nibble, only when not zero)
 *  2  u32 a: column 0
 *  6  u16 b: constant 0xBEEF
 *  8  4 bytes from the pool ("WXYZ")
 * 12  u8 byte of bit fields: constant 0x1 (bit 0), c's low nibble << 4, ORed
 * 13  u8 c's high nibble, ORed ... stored as constant 0 first
 * 14  u16 c: column 1, low 16 bits */
static const fw_pack_slot SLOTS[] = {
    {0, 2, FW_PACK_VALID, 0, -1, 0, 0, 0, U64, 0x8000},
    {2, 4, FW_PACK_COLUMN, 0, 0, 0, 0, 0, U64, 0},
    {6, 2, FW_PACK_CONST, 0, 1, 0, 0, 0, U64, 0xBEEF},
    {8, 4, FW_PACK_BYTES, 0, -1, 0, 0, 0, 0, 0},
    {12, 1, FW_PACK_CONST, 0, -1, 0, 0, 0, U64, 0x1},
    {13, 1, FW_PACK_CONST, 0, -1, 0, 0, 0, U64, 0},
    {14, 2, FW_PACK_COLUMN, 0, -1, 1, 0, 0, 0xFFFF, 0},
    {12, 1, FW_PACK_COLUMN, FW_PACK_OR, -1, 1, 0, 4, 0xF, 0},
    {13, 1, FW_PACK_COLUMN, FW_PACK_OR | FW_PACK_VBIT_IF_NONZERO, 2, 1, 16, 0, 0xF, 0},
};
static const uint8_t POOL[] = "WXYZ";
static const uint64_t MAX[] = {0xFFFFFFFFu, 0xFFFFFu};

static fw_pack_plan plan_of(fw_pack_slot *slots, uint32_t n) {
    fw_pack_plan p = {slots, n, 16, POOL, 4, 2, MAX};
    return p;
}

static void test_records_from_columns(void) {
    fw_pack_slot slots[9];
    fw_pack_plan p;
    uint64_t a[3] = {0x11223344u, 0, 0xFFFFFFFFu}, c[3] = {0x5678, 0x3ABCD, 0xFFFFF};
    const uint64_t *cols[2] = {a, c};
    uint8_t out[48];
    fw_pack_error err;
    static const uint8_t want0[16] = {0x03, 0x80, 0x44, 0x33, 0x22, 0x11, 0xEF, 0xBE, 'W', 'X',
                                      'Y', 'Z', 0x81, 0x00, 0x78, 0x56};
    static const uint8_t want1[16] = {0x07, 0x80, 0, 0, 0, 0, 0xEF, 0xBE, 'W', 'X',
                                      'Y', 'Z', 0xD1, 0x03, 0xCD, 0xAB};
    memcpy(slots, SLOTS, sizeof SLOTS);
    p = plan_of(slots, 9);
    CHECK(fw_pack_check(&p, &err) == FW_OK);
    memset(out, 0xAA, sizeof out); /* every byte is written: none of the fill survives */
    CHECK(fw_pack_columns(&p, cols, 3, out, sizeof out, &err) == FW_OK);
    CHECK(memcmp(out, want0, 16) == 0);
    CHECK(memcmp(out + 16, want1, 16) == 0);    /* c > 0xFFFF: its high nibble and bit 2 */
    CHECK(out[32] == 0x07 && out[32 + 12] == 0xF1 && out[32 + 13] == 0x0F && out[32 + 2] == 0xFF);
    CHECK(fw_pack_columns(&p, cols, 0, out, 0, &err) == FW_OK);          /* no records */
    CHECK(fw_pack_columns(&p, cols, 3, out, 47, &err) == FW_E_NOSPACE);
}

/* More value-dependent bits than pack.c lists up front: each record walks the table. */
static void test_many_conditional_bits(void) {
    enum { N = 20 };
    fw_pack_slot slots[1 + 2 * N];
    uint64_t v[2] = {0x5A5A5, 0xFFFFF}, max = 0xFFFFF;
    const uint64_t *cols[1] = {v};
    uint8_t out[2 * (4 + N)];
    fw_pack_plan p = {slots, 1 + 2 * N, 4 + N, NULL, 0, 1, &max};
    fw_pack_error err;
    uint32_t k, r, word;
    int ok = 1;
    fw_pack_slot valid = {0, 4, FW_PACK_VALID, 0, -1, 0, 0, 0, U64, 0};
    slots[0] = valid;
    for (k = 0; k < N; k++) {
        fw_pack_slot zero = {4 + k, 1, FW_PACK_CONST, 0, -1, 0, 0, 0, U64, 0};
        fw_pack_slot bit = {4 + k, 1, FW_PACK_COLUMN, FW_PACK_OR | FW_PACK_VBIT_IF_NONZERO, (int32_t)k, 0, k, 0, 1, 0};
        slots[1 + k] = zero;
        slots[1 + N + k] = bit;
    }
    CHECK(fw_pack_columns(&p, cols, 2, out, sizeof out, &err) == FW_OK);
    for (r = 0; r < 2; r++) {
        const uint8_t *rec = out + r * (4 + N);
        word = (uint32_t)rec[0] | (uint32_t)rec[1] << 8 | (uint32_t)rec[2] << 16 | (uint32_t)rec[3] << 24;
        ok &= word == v[r];
        for (k = 0; k < N; k++)
            ok &= rec[4 + k] == (v[r] >> k & 1);
    }
    CHECK(ok);
}

static void test_range_refused(void) {
    fw_pack_slot slots[9];
    fw_pack_plan p;
    uint64_t a[4] = {1, 2, 3, 0x100000000ull}, c[4] = {0, 0, 0x100000, 0};
    const uint64_t *cols[2] = {a, c};
    uint8_t out[64];
    fw_pack_error err;
    memcpy(slots, SLOTS, sizeof SLOTS);
    p = plan_of(slots, 9);
    memset(&err, 0, sizeof err);
    CHECK(fw_pack_columns(&p, cols, 4, out, sizeof out, &err) == FW_PACK_E_RANGE);
    CHECK(err.col == 1 && err.index == 2 && err.value == 0x100000); /* the first in record order */
    c[2] = 0;
    CHECK(fw_pack_columns(&p, cols, 4, out, sizeof out, &err) == FW_PACK_E_RANGE);
    CHECK(err.col == 0 && err.index == 3 && err.value == 0x100000000ull);
}

/* One change to the good table that makes it malformed, and the slot named. */
static void bad(uint32_t slot, uint32_t field, uint64_t v, uint32_t want_slot) {
    fw_pack_slot slots[9];
    fw_pack_plan p;
    fw_pack_error err;
    uint64_t a[1] = {0}, c[1] = {0};
    const uint64_t *cols[2] = {a, c};
    uint8_t out[16];
    memcpy(slots, SLOTS, sizeof SLOTS);
    switch (field) {
    case 0: slots[slot].off = (uint32_t)v; break;
    case 1: slots[slot].size = (uint32_t)v; break;
    case 2: slots[slot].src = (uint32_t)v; break;
    case 3: slots[slot].flags = (uint32_t)v; break;
    case 4: slots[slot].vbit = (int32_t)v; break;
    case 5: slots[slot].col = (uint32_t)v; break;
    case 6: slots[slot].rshift = (uint32_t)v; break;
    case 7: slots[slot].lshift = (uint32_t)v; break;
    case 8: slots[slot].mask = v; break;
    default: slots[slot].value = v; break;
    }
    p = plan_of(slots, 9);
    err.slot = 999;
    CHECK(fw_pack_check(&p, &err) == FW_PACK_E_SLOT);
    CHECK(err.slot == want_slot);
    if (err.slot != want_slot)
        fprintf(stderr, "  slot %u field %u: refused at slot %u\n", slot, field, err.slot);
    CHECK(fw_pack_columns(&p, cols, 1, out, sizeof out, &err) == FW_PACK_E_SLOT); /* nothing written */
}

static void test_bad_tables_refused(void) {
    fw_pack_plan p;
    fw_pack_slot one = {0, 8, FW_PACK_CONST, 0, -1, 0, 0, 0, U64, 0};
    fw_pack_error err;
    bad(6, 0, 17, 6);           /* offset past the end of the record */
    bad(6, 0, 0xFFFFFFFFu, 6);  /* offset + size wraps */
    bad(6, 1, 3, 6);            /* runs past the end */
    bad(6, 0, 15, 6);           /* a gap before it */
    bad(6, 0, 13, 6);           /* an overlap */
    bad(2, 1, 3, 3);            /* an overlap, named at the slot that starts inside another */
    bad(7, 0, 16, 7);           /* an OR slot past the end */
    bad(7, 3, 0, 7);            /* a store that does not go on from where the last one ended */
    bad(8, 3, 0, 8);            /* a store after the OR slots began */
    bad(1, 5, 2, 1);            /* a column that is not there */
    bad(3, 9, 1, 3);            /* bytes past the pool */
    bad(3, 1, 5, 3);            /* (size too) */
    bad(5, 2, FW_PACK_VALID, 5); /* a second validation word */
    bad(1, 4, 16, 1);           /* a bit outside the 16-bit word */
    bad(1, 4, -2, 1);
    bad(2, 9, 0x10000, 2);      /* a constant its size cannot hold */
    bad(6, 8, 0x1FFFF, 6);      /* a column whose maximum its size cannot hold */
    bad(7, 7, 61, 7);           /* shifted past 64 bits */
    bad(6, 6, 64, 6);
    bad(0, 1, 9, 0);            /* a value slot wider than 8 bytes */
    bad(4, 2, 7, 4);            /* an unknown source */
    bad(4, 3, 0x80, 4);         /* an unknown flag */
    bad(0, 4, 3, 0);            /* the word setting a bit of itself */
    bad(8, 2, FW_PACK_BYTES, 8); /* bytes cannot be ORed */
    /* store slots that stop short of the record's end: the slot count is named */
    p = plan_of(&one, 1);
    CHECK(fw_pack_check(&p, &err) == FW_PACK_E_SLOT && err.slot == 1);
    p.record_size = 8;
    CHECK(fw_pack_check(&p, &err) == FW_OK);
    one.size = 0;
    p.record_size = 0;
    CHECK(fw_pack_check(&p, &err) == FW_PACK_E_SLOT && err.slot == 0);
    p.nslots = 0;               /* an empty record is an empty table */
    CHECK(fw_pack_check(&p, &err) == FW_OK);
    p.ncols = FW_PACK_MAX_COLUMNS + 1;
    CHECK(fw_pack_check(&p, &err) == FW_PACK_E_SLOT);
    CHECK(fw_pack_check(NULL, &err) == FW_PACK_E_SLOT);
}

int main(void) {
    test_records_from_columns();
    test_many_conditional_bits();
    test_range_refused();
    test_bad_tables_refused();
    printf("pack: %d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
