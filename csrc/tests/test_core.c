/* Unit tests of the C core, run strict and under ASan/UBSan (csrc/Makefile). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cper.h"
#include "ghes.h"
#include "osmodel.h"
#include "jline.h"
#include <math.h>

#include "tests/check.h"

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* QEMU's reference memory-UE payload (qemu-linux.md §6): PA 0x60000000, 172 bytes. */
static int mem_block(uint8_t *out, size_t cap, uint64_t pa) {
    fw_estatus st = {FW_EST_AUTO_STATUS, 0, FW_SEV_RECOVERABLE, 0, 0, NULL, 0};
    fw_gde g;
    memset(&g, 0, sizeof g);
    g.section_type = FW_GUID_MEM;
    g.revision = 0x0300;
    g.flags = FW_GDE_FLAG_PRIMARY;
    fw_mem_section m;
    memset(&m, 0, sizeof m);
    m.validation_bits = 0x4002;
    return fw_encode_mem_block(&st, &g, &m, pa, 0, out, cap);
}

static void test_mem_block_golden(void) {
    uint8_t b[256];
    int n = mem_block(b, sizeof b, 0x60000000ull);
    CHECK(n == 172);
    static const uint8_t head[] = {0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x98, 0, 0, 0, 0, 0, 0, 0,
                                   0x14, 0x11, 0xbc, 0xa5, 0x64, 0x6f, 0xde, 0x4e, 0xb8, 0x63, 0x3e,
                                   0x83, 0xed, 0x7c, 0x83, 0xb1, 0, 0, 0, 0, 0x00, 0x03, 0x00, 0x01,
                                   0x50, 0, 0, 0};
    CHECK(memcmp(b, head, sizeof head) == 0);
    CHECK(b[92] == 0x02 && b[93] == 0x40);               /* validation 0x4002 */
    CHECK(b[92 + 16 + 3] == 0x60);                      /* PA byte 3 */
    fw_verdict v;
    CHECK(fw_check(b, (size_t)n, 1024, &v) == FW_RULE_VALID && v.len == 172 && v.entries == 1);
    CHECK(mem_block(b, 171, 0) == FW_E_NOSPACE);
}

static void test_batch_equals_single(void) {
    enum { N = 64 };
    static uint8_t batch[N * 176], one[176];
    uint64_t pa[N], ts[N];
    uint8_t et[N];
    for (int i = 0; i < N; i++) {
        pa[i] = 0x80000000ull + (uint64_t)i * 4096;
        ts[i] = 0x2026011100000000ull + (uint64_t)i;
        et[i] = (uint8_t)(i % 16);
    }
    fw_estatus st = {FW_EST_AUTO_STATUS, 0, FW_SEV_RECOVERABLE, 0, 0, NULL, 0};
    fw_gde g;
    memset(&g, 0, sizeof g);
    g.section_type = FW_GUID_MEM;
    g.revision = 0x0300;
    g.validation_bits = FW_GDE_VALID_TIMESTAMP;
    fw_mem_section m;
    memset(&m, 0, sizeof m);
    m.validation_bits = 0x4002;
    CHECK(fw_batch_mem(&st, &g, &m, N, pa, ts, et, batch, 176) == 172);
    for (int i = 0; i < N; i++) {
        m.error_type = et[i];
        CHECK(fw_encode_mem_block(&st, &g, &m, pa[i], ts[i], one, sizeof one) == 172);
        CHECK(memcmp(one, batch + i * 176, 172) == 0);
    }
    CHECK(fw_batch_mem(&st, &g, &m, N, NULL, NULL, NULL, batch, 176) == FW_E_INVAL);
}

static int body_of(int k, const void *s, uint8_t *o, size_t cap) {
    switch (k) {
    case 0: return fw_mem_encode(s, o, cap);
    case 1: return fw_arm_encode(s, o, cap);
    case 2: return fw_pcie_encode(s, o, cap);
    case 3: return fw_proc_encode(s, o, cap);
    default: return fw_fwref_encode(s, o, cap);
    }
}

/* fw_encode_block from each kind's field struct == the section encoder + fw_estatus_assemble,
 * with a 72- and a 64-byte entry header and raw data after the entry. */
static void test_encode_block_matches_assemble(void) {
    static uint8_t a[1024], b[1024], body[512];
    static const uint8_t regs[24] = {1, 2, 3}, vendor[5] = {9, 8, 7}, raw[7] = {0xaa, 0xbb};
    fw_mem_section mem = {.validation_bits = 0x4006, .physical_addr = 0x123456789000ull,
                          .physical_addr_mask = ~0xfffull, .bank = 0x1203, .row = 0xbeef,
                          .error_type = 3, .extended = 0xe1, .mem_dev_handle = 0x77};
    fw_arm_err_info info[2] = {{0, 32, 0x1f, 0x2, 1, 3, 0x55, 0x1000, 0x2000}, {.length = 32, .type = 4}};
    fw_arm_ctx ctx = {0, 5, sizeof regs, regs, NULL, 0};
    fw_arm_section arm = {.validation_bits = 0xb, .err_info_num = 2, .context_info_num = 1,
                          .mpidr = 0x81000100ull, .midr = 0x410fd0c0ull, .err_info = info,
                          .ctx = &ctx, .vendor = vendor, .vendor_len = sizeof vendor};
    fw_pcie_section pcie = {.validation_bits = 0xff, .port_type = 4, .vendor_id = 0x8086,
                            .class_code = {1, 4, 6}, .bus = 3, .serial_number = 0x1122334455667788ull};
    fw_proc_section proc = {.validation_bits = 0x1fff, .proc_type = 1, .cpu_brand = {'x'}, .ip = 0x4000};
    fw_fwref_section fwref = {.record_type = 2, .record_identifier = 42, .trailing = raw, .trailing_len = 3};
    const void *secs[] = {&mem, &arm, &pcie, &proc, &fwref};
    for (int k = 0; k < 5; k++) {
        for (int v = 0; v < 2; v++) {
            fw_estatus st = {FW_EST_AUTO_STATUS, 0, FW_SEV_CORRECTED, 0, 0, v ? raw : NULL, v ? 7 : 0};
            fw_gde g;
            memset(&g, 0, sizeof g);
            g.severity = FW_SEV_CORRECTED;
            g.revision = v ? 0x0201 : 0x0300;
            g.timestamp = 0x2026112412000000ull;
            g.fru_text[0] = 'A';
            memset(a, 0xee, sizeof a);
            memset(b, 0xee, sizeof b);
            int n = body_of(k, secs[k], body, sizeof body);
            CHECK(n > 0);
            const uint8_t *bodies[] = {body};
            uint32_t lens[] = {(uint32_t)n};
            int want = fw_estatus_assemble(&st, &g, bodies, lens, 1, a, sizeof a);
            CHECK(want > 0 && fw_encode_block(&st, &g, FW_SEC_MEM + k, secs[k], b, sizeof b) == want);
            CHECK(memcmp(a, b, sizeof a) == 0);
            CHECK(fw_encode_block(&st, &g, FW_SEC_MEM + k, secs[k], b, (size_t)want - 1) == FW_E_NOSPACE);
        }
    }
    fw_estatus st = {0, 1, 0, 0, 0, NULL, 0};
    fw_gde g;
    memset(&g, 0, sizeof g);
    CHECK(fw_encode_block(&st, &g, FW_SEC_RAW, &mem, b, sizeof b) == FW_E_KIND);
    CHECK(fw_encode_block(&st, &g, FW_SEC_MEM, NULL, b, sizeof b) == FW_E_INVAL);
}

/* ACPI 6.5 Table 18.11: UE/CE valid, multiple UE/CE, entry count, from the entries. */
static void test_auto_block_status(void) {
    fw_gde g[5];
    memset(g, 0, sizeof g);
    g[0].severity = FW_SEV_RECOVERABLE;
    CHECK(fw_auto_block_status(FW_SEV_RECOVERABLE, g, 1) == 0x11);
    g[0].severity = FW_SEV_CORRECTED;
    CHECK(fw_auto_block_status(FW_SEV_CORRECTED, g, 1) == 0x12);
    g[1].severity = FW_SEV_RECOVERABLE;
    CHECK(fw_auto_block_status(FW_SEV_RECOVERABLE, g, 2) == 0x23); /* one of each */
    g[2].severity = FW_SEV_FATAL;
    CHECK(fw_auto_block_status(FW_SEV_FATAL, g, 3) == 0x37);       /* two UE: multiple UE */
    g[3].severity = FW_SEV_INFO;
    g[4].severity = 7; /* unknown: Linux treats it as fatal */
    CHECK(fw_auto_block_status(FW_SEV_FATAL, g, 5) == 0x5F);
    CHECK(fw_auto_block_status(FW_SEV_RECOVERABLE, g, 0) == 0x1);  /* no entries: still non-zero */
    CHECK(fw_auto_block_status(FW_SEV_INFO, g, 0) == 0x2);
}

static void test_rules(void) {
    uint8_t b[256];
    fw_verdict v;
    int n = mem_block(b, sizeof b, 0x1000);
    uint8_t t[256];
#define MUTATE(off, val) (memcpy(t, b, sizeof b), wr32(t + (off), (val)))
    MUTATE(0, 0);
    CHECK(fw_check(t, (size_t)n, 0, &v) == FW_RULE_G3_NO_STATUS);
    MUTATE(12, 0xFFFFFFF0u); /* 20 + data_length wraps to 4 in the kernel's u32 */
    CHECK(fw_check(t, (size_t)n, 0, &v) == FW_RULE_L2_TRUNCATED);
    CHECK(fw_check(b, (size_t)n, 100, &v) == FW_RULE_L3_LENGTH);
    MUTATE(12, 2000);
    CHECK(fw_check(t, sizeof t, 1024, &v) == FW_RULE_L3_LENGTH);
    MUTATE(12, 10);
    CHECK(fw_check(t, sizeof t, 0, &v) == FW_RULE_H1_DATA_LENGTH && v.offset == 12);
    MUTATE(8, 4); /* raw data at offset 0: len = 4, truncated before anything else */
    CHECK(fw_check(t, sizeof t, 0, &v) == FW_RULE_L2_TRUNCATED);
    wr32(t + 4, 100); /* raw data at 100 overlaps the entries (they end at 172) */
    CHECK(fw_check(t, sizeof t, 0, &v) == FW_RULE_H2_RAW_OFFSET && v.offset == 4);
    wr32(t + 4, 172);
    CHECK(fw_check(t, sizeof t, 0, &v) == FW_RULE_VALID && v.len == 176);
    MUTATE(12, 152 + 40); /* 40 leftover bytes: too short for another GDE header */
    CHECK(fw_check(t, sizeof t, 0, &v) == FW_RULE_E1_GDE_HEADER && v.offset == 172);
    MUTATE(20 + 24, 200); /* error_data_length 200 > remaining 80 */
    CHECK(fw_check(t, (size_t)n, 0, &v) == FW_RULE_E2_GDE_PAYLOAD && v.offset == 44);
    MUTATE(20 + 24, 0xFFFFFFC0u); /* header + length wraps the kernel's u32 */
    CHECK(fw_check(t, (size_t)n, 0, &v) == FW_RULE_E2_GDE_PAYLOAD);
    CHECK(fw_check(b, 100, 0, &v) == FW_RULE_SHORT_INPUT);
    CHECK(fw_check(b, 3, 0, &v) == FW_RULE_SHORT_INPUT);
    MUTATE(12, 0); /* no entries at all: the kernel accepts it */
    CHECK(fw_check(t, 20, 0, &v) == FW_RULE_VALID && v.entries == 0);
    CHECK(strcmp(fw_rule_kernel_message(FW_RULE_L3_LENGTH), "Invalid error status block length!") == 0);
    CHECK(strcmp(fw_rule_name(FW_RULE_E2_GDE_PAYLOAD), "E2") == 0);
#undef MUTATE
}

static void test_post(void) {
    uint8_t rec[256], block[1024];
    int n = mem_block(rec, sizeof rec, 0x60000000ull);
    memset(block, 0xAA, sizeof block);
    wr32(block, 0);
    CHECK(fw_post(block, sizeof block, rec, (size_t)n, 0) == FW_OK);
    CHECK(memcmp(block, rec, (size_t)n) == 0);
    CHECK(block[n] == 0xAA); /* nothing written past the record */
    CHECK(fw_block_status(block) == 0x11);
    CHECK(fw_post(block, sizeof block, rec, (size_t)n, 0) == FW_E_BUSY);
    rec[20 + 72 + 16] = 0x77; /* change the PA: a forced post replaces the record */
    CHECK(fw_post(block, sizeof block, rec, (size_t)n, FW_POST_FORCE) == FW_OK);
    CHECK(block[20 + 72 + 16] == 0x77);
    CHECK(fw_post(block, 100, rec, (size_t)n, FW_POST_FORCE) == FW_E_NOSPACE);
    CHECK(fw_post(block, sizeof block, rec, 10, FW_POST_FORCE) == FW_E_INVAL);
}

/* The whole firmware post against a GHESv2 source (edk2 style: preserve 0, write 1) and a
 * GHES v1 one: refused while busy or unacked with nothing written, armed on post, consumed
 * exactly when the OS's ack (v2) or the cleared block_status (v1) shows. */
static void test_source_post(void) {
    uint8_t rec[256], block[512], ack[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    int n = mem_block(rec, sizeof rec, 0x60000000ull);
    memset(block, 0, sizeof block);
    fw_source v2 = {block, sizeof block, ack, {0, 1, 0, 64}};
    CHECK(fw_source_free(&v2) == FW_OK && fw_source_consumed(&v2));
    CHECK(fw_source_post(&v2, rec, (size_t)n, 0) == FW_OK);
    CHECK(memcmp(block, rec, (size_t)n) == 0 && ack[0] == 0); /* armed: 1 -> 0 */
    CHECK(!fw_source_consumed(&v2));
    CHECK(fw_source_post(&v2, rec, (size_t)n, 0) == FW_E_BUSY);
    wr32(block, 0);                       /* the OS cleared the block but has not acked */
    CHECK(!fw_source_consumed(&v2) && fw_source_free(&v2) == FW_E_UNACKED);
    uint8_t before[512];
    memcpy(before, block, sizeof block);
    CHECK(fw_source_post(&v2, rec, (size_t)n, 0) == FW_E_UNACKED);
    CHECK(memcmp(before, block, sizeof block) == 0 && ack[0] == 0); /* nothing written */
    ack[0] = 1;                           /* the ack */
    CHECK(fw_source_consumed(&v2) && fw_source_free(&v2) == FW_OK);
    CHECK(fw_source_post(&v2, rec, 10, 0) == FW_E_INVAL && ack[0] == 1);
    CHECK(fw_source_post(&v2, rec, sizeof block + 1, 0) == FW_E_NOSPACE && ack[0] == 1);
    wr32(block, 7);
    CHECK(fw_source_post(&v2, rec, (size_t)n, FW_POST_FORCE) == FW_OK && ack[0] == 0);

    fw_source v1 = {block, sizeof block, NULL, {0, 0, 0, 0}};
    wr32(block, 0);
    CHECK(fw_source_post(&v1, rec, (size_t)n, 0) == FW_OK && !fw_source_consumed(&v1));
    CHECK(fw_source_free(&v1) == FW_E_BUSY);
    wr32(block, 0);
    CHECK(fw_source_consumed(&v1) && fw_source_free(&v1) == FW_OK);
}

static void test_read_ack(void) {
    /* QEMU: preserve ~1, write 1: firmware arms to 0, the OS sets bit 0. */
    fw_ack_reg q = {~1ull, 1, 0, 64};
    uint8_t reg[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    CHECK(fw_ack_is_acked(&q, 1));
    CHECK(fw_ack_arm(&q, reg) == 0 && reg[0] == 0);
    CHECK(!fw_ack_is_acked(&q, fw_reg_read(reg, 64)));
    fw_reg_write(reg, 64, fw_ack_os_value(&q, fw_reg_read(reg, 64)));
    CHECK(fw_ack_is_acked(&q, fw_reg_read(reg, 64)) && reg[0] == 1);
    /* edk2 DMC-620: preserve 0, write 0: firmware arms to 1, the OS writes 0. */
    fw_ack_reg e = {0, 0, 0, 64};
    CHECK(fw_ack_armed_value(&e, 0) == 1);
    CHECK(!fw_ack_is_acked(&e, 1) && fw_ack_is_acked(&e, 0));
    /* Bit offset 4: the kernel shifts preserve left, so bits 3:0 are cleared by the
     * OS's write too (ghes_ack_error); they count as OS-controlled. */
    fw_ack_reg o = {~1ull, 1, 4, 32};
    CHECK(fw_ack_os_mask(&o) == 0x1F);
    CHECK(fw_ack_os_value(&o, 0xF0F0F0FFu) == 0xF0F0F0F0u);
    CHECK(fw_ack_armed_value(&o, 0xF0F0F0FFu) == 0xF0F0F0F1u);
    CHECK(!fw_ack_is_acked(&o, 0xF0F0F0F1u) && fw_ack_is_acked(&o, 0xF0F0F0F0u));
    /* preserve covers every bit: no ack is observable */
    fw_ack_reg none = {~0ull, 0, 0, 64};
    CHECK(fw_ack_os_mask(&none) == 0 && !fw_ack_is_acked(&none, 0));
}

static void test_sections_roundtrip(void) {
    uint8_t buf[1024];
    fw_arm_err_info info[2];
    memset(info, 0, sizeof info);
    info[0].length = 32;
    info[0].type = 0x02;
    info[0].validation_bits = 0x16;
    info[0].error_info = 0x450017;
    info[0].physical_fault_addr = 0x60001000;
    info[1] = info[0];
    info[1].type = 0x04;
    static const uint8_t regs[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    fw_arm_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.type = 5;
    ctx.size = 16;
    ctx.regs = regs;
    static const uint8_t vendor[3] = {0xde, 0xad, 0x01};
    fw_arm_section a;
    memset(&a, 0, sizeof a);
    a.validation_bits = 0xF;
    a.err_info_num = 2;
    a.context_info_num = 1;
    a.mpidr = 0x80000000;
    a.midr = 0xf0510;
    a.running_state = 1;
    a.err_info = info;
    a.ctx = &ctx;
    a.vendor = vendor;
    a.vendor_len = 3;
    int n = fw_arm_encode(&a, buf, sizeof buf);
    /* UEFI layout: the 24-byte context block is zero-padded to 32 bytes */
    CHECK(n == 40 + 64 + 32 + 3);
    CHECK(rd32(buf + 8) == (uint32_t)n);
    static const uint8_t zeros[8] = {0};
    CHECK(rd32(buf + 104 + 4) == 16 && memcmp(buf + 104 + 24, zeros, 8) == 0);
    CHECK(memcmp(buf + 136, vendor, 3) == 0);
    fw_arm_section d;
    fw_arm_err_info di[2];
    fw_arm_ctx dc[1];
    CHECK(fw_arm_decode(buf, (size_t)n, &d, di, 2, dc, 1) == FW_OK);
    CHECK(d.err_info_num == 2 && di[1].type == 0x04 && di[0].physical_fault_addr == 0x60001000);
    CHECK(dc[0].size == 16 && memcmp(dc[0].regs, regs, 16) == 0 && d.vendor_len == 3);
    CHECK(d.ctx_align == 16 && dc[0].pad_len == 8 && d.vendor == buf + 136);
    CHECK(fw_arm_decode(buf, (size_t)n, &d, di, 1, dc, 1) == FW_E_NOSPACE);
    CHECK(fw_arm_decode(buf, 108, &d, di, 2, dc, 1) == FW_E_TRUNC); /* inside the context header */

    /* back to back (what Linux before v6.14 reads): no padding, read back as such */
    a.ctx_align = 1;
    n = fw_arm_encode(&a, buf, sizeof buf);
    CHECK(n == 40 + 64 + 24 + 3 && rd32(buf + 8) == (uint32_t)n && memcmp(buf + 128, vendor, 3) == 0);
    CHECK(fw_arm_decode(buf, (size_t)n, &d, di, 2, dc, 1) == FW_OK);
    CHECK(d.ctx_align == 1 && dc[0].pad_len == 0 && d.vendor_len == 3);
    a.ctx_align = 3;
    CHECK(fw_arm_encode(&a, buf, sizeof buf) == FW_E_INVAL);
    a.ctx_align = 0;

    /* explicit padding bytes are written verbatim and read back (non-zero: UEFI layout last) */
    static const uint8_t pad[8] = {0xAA, 0, 0, 0, 0, 0, 0, 0x55};
    ctx.pad = pad;
    ctx.pad_len = 8;
    a.vendor_len = 0;
    n = fw_arm_encode(&a, buf, sizeof buf);
    CHECK(n == 40 + 64 + 32 && memcmp(buf + 128, pad, 8) == 0);
    CHECK(fw_arm_decode(buf, (size_t)n, &d, di, 2, dc, 1) == FW_OK);
    /* both readings account for the bytes: back to back (8 vendor bytes) wins over non-zero padding */
    CHECK(d.ctx_align == 1 && d.vendor_len == 8);
    ctx.pad = NULL;
    ctx.pad_len = 0;
    a.vendor_len = 3;

    fw_pcie_section p, pd;
    memset(&p, 0, sizeof p);
    p.validation_bits = 0xFF;
    p.port_type = 4;
    p.segment = 0x1234;
    p.slot = 0xBEEF;
    p.aer_info[95] = 0x5A;
    CHECK(fw_pcie_encode(&p, buf, sizeof buf) == 208);
    CHECK(buf[33] == 0x34 && buf[34] == 0x12 && buf[37] == 0xEF && buf[207] == 0x5A);
    CHECK(fw_pcie_decode(buf, 208, &pd) == FW_OK && memcmp(&p, &pd, sizeof p) == 0);
    CHECK(fw_pcie_decode(buf, 207, &pd) == FW_E_TRUNC);

    fw_proc_section c, cd;
    memset(&c, 0, sizeof c);
    c.validation_bits = 0x1FFF;
    c.ip = 0xFFFF000012345678ull;
    memcpy(c.cpu_brand, "Neoverse-N2", 11);
    CHECK(fw_proc_encode(&c, buf, sizeof buf) == 192 && buf[191] == 0xFF);
    CHECK(fw_proc_decode(buf, 192, &cd) == FW_OK && memcmp(&c, &cd, sizeof c) == 0);
}

/* Random and truncated bytes into every reader: must return, never read out of bounds
 * (ASan turns an overread into a failure). */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static void test_random_bytes(void) {
    uint8_t good[256];
    int n = mem_block(good, sizeof good, 0x60000000ull);
    for (int iter = 0; iter < 200000; iter++) {
        size_t len = rnd() % 300;
        uint8_t *b = malloc(len ? len : 1);
        if (iter & 1 && len <= (size_t)n) {
            memcpy(b, good, len);
            if (len) b[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
        } else {
            for (size_t i = 0; i < len; i++) b[i] = (uint8_t)rnd();
        }
        fw_verdict v;
        int rule = fw_check(b, len, rnd() % 2048, &v);
        CHECK(rule >= 0 && rule < FW_RULE_COUNT);
        fw_mem_section m;
        fw_pcie_section p;
        fw_proc_section c;
        fw_fwref_section f;
        fw_arm_section a;
        fw_arm_err_info ai[4];
        fw_arm_ctx ac[4];
        (void)fw_mem_decode(b, len, &m);
        (void)fw_pcie_decode(b, len, &p);
        (void)fw_proc_decode(b, len, &c);
        (void)fw_fwref_decode(b, len, &f);
        (void)fw_arm_decode(b, len, &a, ai, 4, ac, 4);
        uint32_t off = 20;
        fw_entry_view e;
        while (len >= 20 && fw_entry_next(b, len, &off, &e) == FW_OK) {
        }
        fw_os_action acts[8];
        CHECK(fw_os_actions(b, (uint32_t)len, acts, 8) >= 0);   /* bounded reads on any bytes */
        free(b);
    }
}

/* The OS side: read through the ESA, the checks, clear and ack, the memory_failure decision. */
static void test_os_path(void) {
    static uint8_t mem[2048];
    memset(mem, 0, sizeof mem);
    uint8_t *esa = mem, *ack = mem + 8, *block = mem + 64;
    uint8_t out[1024];
    uint32_t len = 99;
    fw_os_source s = {esa, 0x1040, block, 1024, ack, 0, 1, 64};
    CHECK(fw_os_read(&s, out, sizeof out, &len) == FW_OS_NONE && len == 0);   /* ESA 0 */
    fw_reg_write(esa, 64, 0x1040);
    CHECK(fw_os_read(&s, out, sizeof out, &len) == FW_OS_NONE);               /* block_status 0 */
    int n = mem_block(block, 1024, 0x60000000ull);
    CHECK(n == 172);
    CHECK(fw_os_read(&s, out, sizeof out, &len) == FW_OS_RECORD && len == 172);
    CHECK(memcmp(out, block, 172) == 0);
    fw_os_action a[4];
    CHECK(fw_os_actions(out, len, a, 4) == 2);
    CHECK(a[0].kind == FW_OS_ACT_SECTION && a[1].kind == FW_OS_ACT_MF && a[1].arg == 0 &&
          a[1].addr == 0x60000000ull);
    CHECK(fw_os_actions(out, len, a, 1) == 2);    /* too short an array: the count, one written */
    fw_os_clear(&s);
    CHECK(fw_block_status(block) == 0 && fw_reg_read(ack, 64) == 1);
    fw_reg_write(ack, 64, 0xF0);
    mem_block(block, 1024, 0x60000000ull);
    wr32(block + 12, 2000);                        /* data_length past the 1024-byte limit */
    CHECK(fw_os_read(&s, out, sizeof out, &len) == FW_OS_CHECK && len == 20);
    fw_os_clear(&s);
    CHECK(fw_reg_read(ack, 64) == 1);              /* preserve 0: only the write pattern stays */
    fw_reg_write(esa, 64, 0x2000);
    CHECK(fw_os_read(&s, out, sizeof out, &len) == FW_OS_ELSEWHERE);
    fw_reg_write(esa, 64, 0x1040);
    mem_block(block, 1024, 0x60000000ull);
    wr32(block + 16, FW_SEV_CORRECTED);            /* corrected, no threshold flag: no action */
    block[20 + 16] = FW_SEV_CORRECTED;
    CHECK(fw_os_read(&s, out, sizeof out, &len) != FW_OS_NONE);
    CHECK(fw_os_actions(out, len, a, 4) == 1 && a[0].kind == FW_OS_ACT_SECTION);
    block[20 + 23] |= FW_GDE_FLAG_THRESHOLD;      /* threshold exceeded: soft offline */
    CHECK(fw_os_actions(block, len, a, 4) == 2 && a[1].kind == FW_OS_ACT_MF && a[1].arg == 1);
}

/* fw_fixed against glibc's printf (exact, half to even): random doubles of every
 * magnitude the journal holds, exact ties, signs, and what it must refuse. */
static void test_fixed(void) {
    char a[64], b[64];
    uint64_t r = 0x9e3779b97f4a7c15u;
    int bad = 0;
    for (int i = 0; i < 300000; i++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        double x;
        switch (i % 4) {
        case 0: x = (double)(r >> 11) / 9007199254740992.0 * 2.2e9; break;   /* wall times */
        case 1: x = (double)(r >> 11) / 9007199254740992.0 * 1e6; break;     /* monotonic */
        case 2: x = (double)(r % 100000) / 128.0; break;                     /* ties at 6 digits */
        default: x = ldexp((double)(r >> 11), -(int)(r % 120)) ; break;      /* tiny to big */
        }
        if (r & 1) x = -x;
        int digits = (i % 3 == 0) ? 4 : 6;
        int n = fw_fixed(a, x, digits);
        if (fabs(x) >= 4.0e18 / (digits == 4 ? 1e4 : 1e6)) { bad += n != FW_JLINE_NOFIT; continue; }
        snprintf(b, sizeof b, "%.*f", digits, x);
        if (n < 0 || (size_t)n != strlen(b) || memcmp(a, b, (size_t)n) != 0) {
            if (bad++ < 5) fprintf(stderr, "fw_fixed(%.17g, %d): %.*s, printf %s\n", x, digits, n, a, b);
        }
    }
    CHECK(bad == 0);
    CHECK(fw_fixed(a, 0.0078125, 6) == 8 && memcmp(a, "0.007812", 8) == 0);    /* a tie: to even */
    CHECK(fw_fixed(a, 0.0234375, 6) == 8 && memcmp(a, "0.023438", 8) == 0);
    CHECK(fw_fixed(a, -0.0, 6) == 9 && memcmp(a, "-0.000000", 9) == 0);
    CHECK(fw_fixed(a, 5.0, 0) == 1 && a[0] == '5');
    CHECK(fw_fixed(a, NAN, 6) == FW_JLINE_NOFIT && fw_fixed(a, INFINITY, 6) == FW_JLINE_NOFIT);
    CHECK(fw_fixed(a, 1.0, 10) == FW_JLINE_NOFIT && fw_fixed(a, 1e13, 6) == FW_JLINE_NOFIT);
    /* the double's bits read directly: subnormals, the smallest normal, exponents >= 0 */
    CHECK(fw_fixed(a, 4.9e-324, 6) == 8 && memcmp(a, "0.000000", 8) == 0);
    CHECK(fw_fixed(a, -2.2250738585072014e-308, 9) == 12 && memcmp(a, "-0.000000000", 12) == 0);
    CHECK(fw_fixed(a, 9007199254740993.0, 0) == 16 && memcmp(a, "9007199254740992", 16) == 0);
    CHECK(fw_fixed(a, 3.0e18, 0) == 19 && memcmp(a, "3000000000000000000", 19) == 0);
    CHECK(fw_fixed(a, 0.0000005, 6) == 8 && memcmp(a, "0.000000", 8) == 0);   /* 5e-7: just under the tie */
}

static void test_jline(void) {
    static const char want_acc[] =
        "{\"event\":\"accepted\",\"id\":7,\"scenario\":\"memory-ue\",\"source\":2,\"notify\":\"sea\","
        "\"pe\":1,\"digest\":\"00112233aabbccdd\",\"accepted\":1796284370.421443,\"run\":\"R\","
        "\"m_accepted\":671.959109,\"length\":3,\"bs\":17,\"fields\":{}}";
    char out[1024];
    int n = fw_jline_accepted(out, sizeof out, 7, "\"memory-ue\"", 2, "sea", 1, "00112233aabbccdd",
                              1796284370.421443, "R", 671.959109, 3, 17, "{}");
    CHECK(n == (int)strlen(want_acc) && memcmp(out, want_acc, (size_t)n) == 0);
    /* exactly big enough fits; one byte less is refused, nothing past cap written */
    CHECK(fw_jline_accepted(out, (size_t)n, 7, "\"memory-ue\"", 2, "sea", 1, "00112233aabbccdd",
                            1796284370.421443, "R", 671.959109, 3, 17, "{}") == n);
    memset(out, 'Z', sizeof out);
    CHECK(fw_jline_accepted(out, (size_t)n - 1, 7, "\"memory-ue\"", 2, "sea", 1, "00112233aabbccdd",
                            1796284370.421443, "R", 671.959109, 3, 17, "{}") == FW_JLINE_NOFIT);
    CHECK(out[n - 1] == 'Z');
    static const uint8_t rec[3] = {0x11, 0x0a, 0xff};
    static const char want_fin[] =
        "{\"id\":7,\"scenario\":\"m\",\"source\":2,\"notify\":\"sea\",\"pe\":1,\"block\":4096,\"length\":3,"
        "\"digest\":\"d\",\"state\":\"consumed\",\"reason\":null,\"accepted\":100.000000,"
        "\"posted\":100.500000,\"notified\":100.750000,\"consumed\":101.000000,\"latency_ms\":250.0000,"
        "\"run\":\"R\",\"m_accepted\":10.000000,\"m_posted\":10.500000,\"m_notified\":10.750000,"
        "\"m_consumed\":11.000000,\"m_end\":11.250000,\"fields\":{\"a\":\"b\"},\"record\":\"110aff\","
        "\"event\":\"consumed\"}";
    n = fw_jline_final(out, sizeof out, 7, "\"m\"", 2, "sea", 1, 4096, "d", "consumed", 100.0, 10.0,
                       10.5, 10.75, 11.0, 11.25, "R", "{\"a\":\"b\"}", rec, 3, "consumed");
    CHECK(n == (int)strlen(want_fin) && memcmp(out, want_fin, (size_t)n) == 0);
    CHECK(fw_jline_final(out, sizeof out, 7, "\"m\"", 2, "sea", 1, 4096, "d", "consumed", 100.0, 10.0,
                         NAN, 10.75, 11.0, 11.25, "R", "{}", rec, 3, "consumed") == FW_JLINE_NOFIT);
    CHECK(fw_jline_final(out, 40, 7, "\"m\"", 2, "sea", 1, 4096, "d", "consumed", 100.0, 10.0,
                         10.5, 10.75, 11.0, 11.25, "R", "{}", rec, 3, "consumed") == FW_JLINE_NOFIT);
}

/* The batches: each row's text is the single line's, then '\n'; all or nothing. */
static void test_jline_batch(void) {
    enum { N = 3 };
    static const uint64_t id[N] = {7, 18446744073709551615u, 0};
    static const uint32_t source[N] = {2, 0, 4294967295u}, pe[N] = {1, 3, 0};
    static const uint64_t block[N] = {4096, 0, 1u << 20};
    static const uint32_t length[N] = {3, 0, 5}, bs[N] = {17, 0, 4294967295u};
    static const double wall[N] = {1796284370.421443, 1.6e9, 2.2e9 - 0.0078125};
    static const double acc[N] = {671.959109, 0.0078125, 0.0};
    static const double posted[N] = {672.5, 0.0234375, 0.0}, notified[N] = {672.75, 1.0, 1e-7};
    static const double consumed[N] = {673.0, 2.5, 3e5}, end[N] = {673.25, 2.5, 3e5 + 1};
    static const uint8_t records[8] = {0x11, 0x0a, 0xff, 0, 1, 2, 0xfe, 0x80};
    static const char scen[] = "\"memory-ue\"\0\"r\\u00e9\"\0\"\"", notify[] = "sea\0sei\0gpio";
    static const char digest[] = "00112233aabbccdd\0\0d", state[] = "consumed\0dropped\0refused";
    static const char run[] = "R\0\0R2", fields[] = "{}\0{\"a\":\"b\\n\"}\0{}";
    static const char event[] = "consumed\0dropped\0timed-out";
    const char *sc = scen, *no = notify, *dg = digest, *stt = state, *rn = run, *fl = fields,
               *ev = event;
    const uint8_t *rec = records;
    static char want[4096], out[4096];
    size_t wn = 0, fn = 0, fend[N];
    char fwant[4096];
    uint32_t ends[N];
    for (int i = 0; i < N; i++) {
        int a = fw_jline_accepted(want + wn, sizeof want - wn, id[i], sc, source[i], no, pe[i], dg,
                                  wall[i], rn, acc[i], length[i], bs[i], fl);
        int f = fw_jline_final(fwant + fn, sizeof fwant - fn, id[i], sc, source[i], no, pe[i],
                               block[i], dg, stt, wall[i], acc[i], posted[i], notified[i],
                               consumed[i], end[i], rn, fl, rec, length[i], ev);
        CHECK(a > 0 && f > 0);
        wn += (size_t)a;
        want[wn++] = '\n';
        fn += (size_t)f;
        fwant[fn++] = '\n';
        fend[i] = fn;
        sc += strlen(sc) + 1; no += strlen(no) + 1; dg += strlen(dg) + 1; stt += strlen(stt) + 1;
        rn += strlen(rn) + 1; fl += strlen(fl) + 1; ev += strlen(ev) + 1; rec += length[i];
    }
#define ACC_N(cap, n) fw_jline_accepted_n(out, (cap), (n), id, scen, source, notify, pe, digest, \
                                          wall, run, acc, length, bs, fields)
#define FIN_N(cap, n, posted) fw_jline_final_n(out, (cap), (n), id, scen, source, notify, pe, block, \
                                               digest, state, wall, acc, posted, notified, \
                                               consumed, end, run, fields, records, length, event, \
                                               ends)
    CHECK(ACC_N(sizeof out, N) == (int)wn && memcmp(out, want, wn) == 0);
    CHECK(ACC_N(wn, N) == (int)wn && memcmp(out, want, wn) == 0);       /* exactly big enough */
    memset(out, 'Z', sizeof out);
    CHECK(ACC_N(wn - 1, N) == FW_JLINE_NOFIT && out[wn - 1] == 'Z');    /* one short: refused */
    CHECK(FIN_N(sizeof out, N, posted) == (int)fn && memcmp(out, fwant, fn) == 0);
    for (int i = 0; i < N; i++)     /* where each line ends, just past its '\n' */
        CHECK(ends[i] == fend[i]);
    CHECK(fw_jline_final_n(out, sizeof out, N, id, scen, source, notify, pe, block, digest, state,
                           wall, acc, posted, notified, consumed, end, run, fields, records, length,
                           event, NULL) == (int)fn);      /* ends may be NULL */
    CHECK(FIN_N(fn, N, posted) == (int)fn && memcmp(out, fwant, fn) == 0);
    memset(out, 'Z', sizeof out);
    CHECK(FIN_N(fn - 1, N, posted) == FW_JLINE_NOFIT && out[fn - 1] == 'Z');
    /* a prefix of the rows is the prefix of the text */
    size_t first = (size_t)(strchr(fwant, '\n') - fwant) + 1;
    CHECK(FIN_N(sizeof out, 1, posted) == (int)first && memcmp(out, fwant, first) == 0);
    /* a float with no exact short form in any row: the whole batch is refused */
    static const double posted_bad[N] = {672.5, NAN, 0.0};
    CHECK(FIN_N(sizeof out, N, posted_bad) == FW_JLINE_NOFIT);
    CHECK(FIN_N(sizeof out, 1, posted_bad) == (int)first);
    /* no rows: nothing written, nothing read (the columns may even be absent) */
    CHECK(ACC_N(0, 0) == 0 && FIN_N(0, 0, posted) == 0);
    CHECK(fw_jline_accepted_n(out, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                              NULL, NULL, NULL) == 0);
    CHECK(fw_jline_final_n(out, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                           NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) == 0);
#undef ACC_N
#undef FIN_N
}

int main(void) {
    test_mem_block_golden();
    test_batch_equals_single();
    test_encode_block_matches_assemble();
    test_auto_block_status();
    test_rules();
    test_post();
    test_read_ack();
    test_source_post();
    test_sections_roundtrip();
    test_random_bytes();
    test_os_path();
    test_fixed();
    test_jline();
    test_jline_batch();
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
