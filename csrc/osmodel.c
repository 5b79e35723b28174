/*
 * The sim OS model's per-record C path (see osmodel.h). Offsets and rules: the Linux
 * consumer contract (shared/reference/linux-ghes-contract.md) and cper-layouts.md.
 */
#include "osmodel.h"

#include <string.h>

#include "cper.h"
#include "ghes.h"

#define GHES_SEV_CORRECTED 1
#define GHES_SEV_RECOVERABLE 2

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p) { return (uint32_t)u16(p) | (uint32_t)u16(p + 2) << 16; }
static uint64_t u64(const uint8_t *p) { return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32; }

/* ghes_severity(): CPER recoverable 0, fatal 1, corrected 2, info 3; unknown is fatal */
static int ghes_severity(uint32_t cper) {
    static const int map[4] = {GHES_SEV_RECOVERABLE, 3, GHES_SEV_CORRECTED, 0};
    return cper <= 3 ? map[cper] : 3;
}

int fw_os_read(const fw_os_source *s, uint8_t *out, uint32_t cap, uint32_t *len) {
    uint64_t pa = fw_reg_read(s->esa, 64);
    *len = 0;
    if (pa == 0) return FW_OS_NONE;
    if (pa != s->block_pa || cap < FW_ESTATUS_HDR_LEN || s->limit > cap) return FW_OS_ELSEWHERE;
    memcpy(out, s->block, FW_ESTATUS_HDR_LEN);
    if (u32(out) == 0) return FW_OS_NONE;
    uint32_t raw_off = u32(out + 4), raw_len = u32(out + 8), data_len = u32(out + 12);
    /* cper_estatus_len: the kernel's u32 sum, wrapping as it does */
    uint32_t length = raw_len ? raw_off + raw_len : FW_ESTATUS_HDR_LEN + data_len;
    *len = FW_ESTATUS_HDR_LEN;
    if (length < FW_ESTATUS_HDR_LEN || length > s->limit) return FW_OS_CHECK;
    memcpy(out, s->block, length);
    *len = length;
    fw_verdict v;
    return fw_check(out, length, s->limit, &v) == 0 ? FW_OS_RECORD : FW_OS_CHECK;
}

void fw_os_clear(const fw_os_source *s) {
    fw_reg_write(s->block, 32, 0);
    if (s->ack) {
        uint64_t v = fw_reg_read(s->ack, s->ack_width);
        fw_reg_write(s->ack, s->ack_width, (v & s->ack_preserve) | s->ack_write);
    }
}

static void put(fw_os_action *acts, uint32_t max, int *n, uint32_t kind, uint32_t arg, uint64_t addr) {
    if ((uint32_t)*n < max) {
        acts[*n].kind = kind;
        acts[*n].arg = arg;
        acts[*n].addr = addr;
    }
    (*n)++;
}

int fw_os_actions(const uint8_t *buf, uint32_t len, fw_os_action *acts, uint32_t max) {
    int n = 0;
    if (len < FW_ESTATUS_HDR_LEN) return 0;
    int sev = ghes_severity(u32(buf + 16));
    uint64_t end = (uint64_t)FW_ESTATUS_HDR_LEN + u32(buf + 12);
    if (end > len) end = len;
    uint64_t off = FW_ESTATUS_HDR_LEN;
    while (off + 64 <= end) {
        const uint8_t *g = buf + off;
        int sec_sev = ghes_severity(u32(g + 16));
        uint8_t flags = g[23];
        uint32_t length = u32(g + 24);
        uint64_t body = off + ((u16(g + 20) >> 8) >= 3 ? 72 : 64);
        uint32_t entry = (uint32_t)off;
        off = body + length;
        /* a record fw_check accepted has every body inside it; bound the reads anyway */
        if (body > len) break;
        if (length > len - body) length = (uint32_t)(len - body);
        const uint8_t *b = buf + body;
        if (!memcmp(g, FW_GUID_MEM.b, 16) && length >= 24) {
            put(acts, max, &n, FW_OS_ACT_SECTION, 0, 0);
            if (!(u64(b) & 0x2)) continue;  /* CPER_MEM_VALID_PA */
            if (sev == GHES_SEV_RECOVERABLE && sec_sev == GHES_SEV_RECOVERABLE)
                put(acts, max, &n, FW_OS_ACT_MF, 0, u64(b + 16));
            else if (sec_sev == GHES_SEV_CORRECTED && (flags & FW_GDE_FLAG_THRESHOLD))
                put(acts, max, &n, FW_OS_ACT_MF, 1, u64(b + 16));
        } else if (!memcmp(g, FW_GUID_ARM.b, 16) && length >= FW_ARM_HDR_LEN) {
            put(acts, max, &n, FW_OS_ACT_SECTION, 0, 0);
            if (sev != GHES_SEV_RECOVERABLE || sec_sev != GHES_SEV_RECOVERABLE) continue;
            uint64_t p = body + FW_ARM_HDR_LEN;
            /* steps by each entry's own length field, as the kernel does */
            for (uint32_t i = 0, count = u16(b + 4); i < count; i++) {
                if (p + 32 > body + length) break;
                uint8_t type = buf[p + 4];
                if ((type & 0x02) && (u16(buf + p + 2) & 0x10))   /* cache error with a PA */
                    put(acts, max, &n, FW_OS_ACT_MF, 0, u64(buf + p + 24));
                else
                    put(acts, max, &n, FW_OS_ACT_ARM_OTHER, type, 0);
                p += buf[p + 1];
            }
        } else if (!memcmp(g, FW_GUID_PCIE.b, 16) && length >= 208) {
            uint64_t valid = u64(b);
            if ((valid & 0x08) && (valid & 0x80))   /* DEVICE_ID and AER_INFO */
                put(acts, max, &n, FW_OS_ACT_AER, 0,
                    (uint64_t)u16(b + 33) << 24 | (uint64_t)b[35] << 16 | (uint64_t)b[32] << 8 | b[31]);
        } else {
            put(acts, max, &n, FW_OS_ACT_SECTION_OTHER, entry, 0);
        }
    }
    return n;
}
