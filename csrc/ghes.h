/*
 * Posting a record into a GHES error status block, and the GHESv2 Read Ack handshake.
 * Freestanding: no libc beyond memcpy/memset.
 */
#ifndef FWEMU_GHES_H
#define FWEMU_GHES_H

#include <stddef.h>
#include <stdint.h>

/* Ordered commit (DESIGN rule 1): entries and the raw-data area first, then header words
 * 1..4, then a release barrier, then block_status as the very last 32-bit store. Refuses
 * (FW_E_BUSY) when the block's block_status is non-zero unless FW_POST_FORCE. Refuses
 * (FW_E_NOSPACE) a record longer than block_len, (FW_E_INVAL) one shorter than 20 bytes. */
#define FW_POST_FORCE 0x1u
int fw_post(uint8_t *block, size_t block_len, const uint8_t *rec, size_t rec_len, uint32_t flags);

/* Reads block_status with acquire ordering. */
uint32_t fw_block_status(const uint8_t *block);

/* A GHESv2 Read Ack register: the OS writes (old & (preserve << bit_offset)) |
 * (write << bit_offset). width_bits is the register access width (8/16/32/64). */
typedef struct {
    uint64_t preserve;
    uint64_t write;
    uint8_t bit_offset;
    uint8_t width_bits;
} fw_ack_reg;

/* Bits the OS's ack write controls (not preserved) within the register width; 0 means an
 * ack can never be observed (a board-file error). */
uint64_t fw_ack_os_mask(const fw_ack_reg *r);
/* The value the OS leaves after acking a register that held `current`. */
uint64_t fw_ack_os_value(const fw_ack_reg *r, uint64_t current);
/* The value firmware writes when it posts: the OS-controlled bits differ from the OS's ack
 * pattern in their lowest bit, so the ack is observable (QEMU: 1 → 0; edk2: 0 → 1). */
uint64_t fw_ack_armed_value(const fw_ack_reg *r, uint64_t current);
/* 1 when `value` shows the OS's ack (its controlled bits equal the write pattern). */
int fw_ack_is_acked(const fw_ack_reg *r, uint64_t value);

/* Register access at a little-endian location of width_bits (8/16/32/64), atomically
 * for naturally aligned widths. */
uint64_t fw_reg_read(const uint8_t *p, unsigned width_bits);
void fw_reg_write(uint8_t *p, unsigned width_bits, uint64_t v);

/* Arms the register (re-arm on post) and returns the armed value. */
uint64_t fw_ack_arm(const fw_ack_reg *r, uint8_t *reg);

/* A GHES error source as firmware drives it: its error status block and, for GHESv2,
 * its Read Ack register (ack == NULL for GHES v1). */
typedef struct {
    uint8_t *block;
    size_t block_len;
    uint8_t *ack;
    fw_ack_reg ack_reg;
} fw_source;

/* FW_OK when a new record may be posted: block_status is 0 and, for GHESv2, the Read Ack
 * register shows the OS's ack of the last one. Else FW_E_BUSY or FW_E_UNACKED. */
int fw_source_free(const fw_source *s);
/* Firmware's whole post: the lengths (FW_E_INVAL / FW_E_NOSPACE), fw_source_free()
 * (skipped with FW_POST_FORCE), re-arming Read Ack so the OS's next ack is observable,
 * then fw_post(). Nothing is written when it refuses. */
int fw_source_post(const fw_source *s, const uint8_t *rec, size_t rec_len, uint32_t flags);
/* 1 once the OS has released the source's last record: GHESv2 its Read Ack write, GHES v1
 * block_status back to 0. */
int fw_source_consumed(const fw_source *s);

#endif
