/*
 * The Linux GHES consumer's per-record steps, for the sim board's OS model (hosted: the sim
 * only, never linked into the agent): reading through the Error Status Address with the
 * kernel's checks (__ghes_peek_estatus, __ghes_read_estatus), clear and ack
 * (ghes_clear_estatus, ghes_ack_error), and ghes_do_proc's decisions on the sections it
 * knows (memory_failure, ARM cache errors, AER). Python keeps what needs the OS's other
 * state: the page map, the estatus cache, the rate-limited printing.
 */
#ifndef FWEMU_OSMODEL_H
#define FWEMU_OSMODEL_H

#include <stddef.h>
#include <stdint.h>

/* One GHES as the OS probed it. */
typedef struct {
    uint8_t *esa;          /* the Error Status Address register (64 bits) */
    uint64_t block_pa;     /* the address the register held at probe: the mapped block */
    uint8_t *block;
    uint32_t limit;        /* min(error_block_length, 64 KiB): what the kernel will read */
    uint8_t *ack;          /* the Read Ack register, NULL for GHES v1 */
    uint64_t ack_preserve; /* the ack's masks shifted by the bit offset, cut to the width */
    uint64_t ack_write;
    uint8_t ack_width;
} fw_os_source;

/* fw_os_read results */
#define FW_OS_NONE 0       /* the ESA is 0 or block_status is 0: nothing read, nothing cleared */
#define FW_OS_RECORD 1     /* the record passed every check: *len bytes copied to out */
#define FW_OS_CHECK 2      /* a check failed: out holds what the kernel read (the header when
                              the length alone decided), for the caller's warning */
#define FW_OS_ELSEWHERE 3  /* the ESA points somewhere else than at probe: the caller reads */

/* out must hold limit bytes (at least 20). */
int fw_os_read(const fw_os_source *s, uint8_t *out, uint32_t cap, uint32_t *len);
/* block_status = 0, then the Read Ack write: (old & preserve) | write. */
void fw_os_clear(const fw_os_source *s);

/* ghes_do_proc's decisions, one action each, in the record's order. */
#define FW_OS_ACT_SECTION 1    /* a memory or ARM section starts: nothing queued for it yet */
#define FW_OS_ACT_MF 2         /* memory_failure(addr); arg 1: soft offline (corrected, threshold) */
#define FW_OS_ACT_ARM_OTHER 3  /* an ARM error-info entry the kernel does not handle; arg: its type */
#define FW_OS_ACT_AER 4        /* aer_recover_queue; addr: segment << 24 | bus << 16 | device << 8 | function */
#define FW_OS_ACT_SECTION_OTHER 5 /* a section not decided here; arg: its entry's offset */
typedef struct {
    uint32_t kind;
    uint32_t arg;
    uint64_t addr;
} fw_os_action;

/* Fills up to max actions for a record fw_os_read accepted; returns how many there were
 * (more than max: the caller's array was too short and the rest are not written). */
int fw_os_actions(const uint8_t *buf, uint32_t len, fw_os_action *acts, uint32_t max);

#endif
