/*
 * Ordered post into a GHES status block and the GHESv2 Read Ack handshake (see ghes.h).
 */
#include "ghes.h"

#include <string.h>

#include "cper.h"

/* Release fence: every earlier store is visible before any later one. On aarch64 the
 * compiler emits `dmb ish`; a firmware port that shares the block with a non-coherent
 * observer must add its own cache maintenance in the platform layer. */
static inline void release_fence(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }

static int aligned(const void *p, unsigned bytes) { return ((uintptr_t)p & (bytes - 1)) == 0; }

uint64_t fw_reg_read(const uint8_t *p, unsigned width_bits) {
    switch (width_bits) {
    case 8:
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
    case 16:
        if (aligned(p, 2)) return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE);
        break;
    case 32:
        if (aligned(p, 4)) return __atomic_load_n((const uint32_t *)(const void *)p, __ATOMIC_ACQUIRE);
        break;
    case 64:
        if (aligned(p, 8)) return __atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_ACQUIRE);
        break;
    default:
        return 0;
    }
    /* Unaligned: byte-wise little endian (not single-copy atomic; boards should align). */
    uint64_t v = 0;
    for (unsigned i = 0; i < width_bits / 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void fw_reg_write(uint8_t *p, unsigned width_bits, uint64_t v) {
    switch (width_bits) {
    case 8:
        __atomic_store_n(p, (uint8_t)v, __ATOMIC_RELEASE);
        return;
    case 16:
        if (aligned(p, 2)) {
            __atomic_store_n((uint16_t *)(void *)p, (uint16_t)v, __ATOMIC_RELEASE);
            return;
        }
        break;
    case 32:
        if (aligned(p, 4)) {
            __atomic_store_n((uint32_t *)(void *)p, (uint32_t)v, __ATOMIC_RELEASE);
            return;
        }
        break;
    case 64:
        if (aligned(p, 8)) {
            __atomic_store_n((uint64_t *)(void *)p, v, __ATOMIC_RELEASE);
            return;
        }
        break;
    default:
        return;
    }
    for (unsigned i = 0; i < width_bits / 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t fw_block_status(const uint8_t *block) { return (uint32_t)fw_reg_read(block, 32); }

int fw_post(uint8_t *block, size_t block_len, const uint8_t *rec, size_t rec_len, uint32_t flags) {
    if (!block || !rec) return FW_E_INVAL;
    if (rec_len < FW_ESTATUS_HDR_LEN) return FW_E_INVAL;
    if (rec_len > block_len) return FW_E_NOSPACE;
    if (!(flags & FW_POST_FORCE) && fw_block_status(block) != 0) return FW_E_BUSY;
    /* A forced post over a pending block first withdraws it, so a reader never pairs the
     * old block_status with new contents. */
    if (fw_block_status(block) != 0) {
        fw_reg_write(block, 32, 0);
        release_fence();
    }
    memcpy(block + FW_ESTATUS_HDR_LEN, rec + FW_ESTATUS_HDR_LEN, rec_len - FW_ESTATUS_HDR_LEN);
    memcpy(block + 4, rec + 4, FW_ESTATUS_HDR_LEN - 4);
    release_fence();
    uint32_t status = (uint32_t)rec[0] | ((uint32_t)rec[1] << 8) | ((uint32_t)rec[2] << 16) |
                      ((uint32_t)rec[3] << 24);
    fw_reg_write(block, 32, status); /* the last store, with release semantics */
    return FW_OK;
}

static uint64_t width_mask(unsigned width_bits) {
    return width_bits >= 64 ? ~0ull : ((1ull << width_bits) - 1);
}

uint64_t fw_ack_os_mask(const fw_ack_reg *r) {
    if (r->bit_offset >= 64) return 0;
    return ~(r->preserve << r->bit_offset) & width_mask(r->width_bits);
}

uint64_t fw_ack_os_value(const fw_ack_reg *r, uint64_t current) {
    if (r->bit_offset >= 64) return current;
    uint64_t v = current & (r->preserve << r->bit_offset);
    v |= r->write << r->bit_offset;
    return v & width_mask(r->width_bits);
}

int fw_ack_is_acked(const fw_ack_reg *r, uint64_t value) {
    uint64_t m = fw_ack_os_mask(r);
    if (!m) return 0;
    return ((value ^ fw_ack_os_value(r, value)) & m) == 0;
}

uint64_t fw_ack_armed_value(const fw_ack_reg *r, uint64_t current) {
    uint64_t m = fw_ack_os_mask(r);
    uint64_t acked = fw_ack_os_value(r, current);
    return acked ^ (m & (~m + 1)); /* flip the lowest OS-controlled bit */
}

uint64_t fw_ack_arm(const fw_ack_reg *r, uint8_t *reg) {
    uint64_t v = fw_ack_armed_value(r, fw_reg_read(reg, r->width_bits));
    fw_reg_write(reg, r->width_bits, v);
    return v;
}

int fw_source_free(const fw_source *s) {
    if (fw_block_status(s->block) != 0) return FW_E_BUSY;
    if (s->ack && !fw_ack_is_acked(&s->ack_reg, fw_reg_read(s->ack, s->ack_reg.width_bits)))
        return FW_E_UNACKED;
    return FW_OK;
}

int fw_source_post(const fw_source *s, const uint8_t *rec, size_t rec_len, uint32_t flags) {
    if (!s->block || !rec || rec_len < FW_ESTATUS_HDR_LEN) return FW_E_INVAL;
    if (rec_len > s->block_len) return FW_E_NOSPACE;
    if (!(flags & FW_POST_FORCE)) {
        int rc = fw_source_free(s);
        if (rc != FW_OK) return rc;
    }
    /* Re-arm first, so an ack seen later is the OS's answer to this record. */
    if (s->ack) fw_ack_arm(&s->ack_reg, s->ack);
    return fw_post(s->block, s->block_len, rec, rec_len, flags);
}

int fw_source_consumed(const fw_source *s) {
    if (s->ack) return fw_ack_is_acked(&s->ack_reg, fw_reg_read(s->ack, s->ack_reg.width_bits));
    return fw_block_status(s->block) == 0;
}
