/*
 * The fwemu target agent: portable C99 that a firmware port (TF-A BL31, a board's EL3
 * firmware, the sim board on the host) links in to let fwemu drive it over a UART.
 *
 *   bytes from the UART → frame receiver (frame.h) → msgpack request (mp.h) → dispatcher
 *   → window check → platform hook (this header) → reply frame → UART
 *
 * No heap, no libc beyond memcpy/memset, fixed buffers (about 6 KiB for fwa_agent). Single
 * threaded: call fwa_poll() from one context only (a UART RX interrupt handler or a loop).
 * Protocol: protocol/PROTOCOL.md. Porting onto TF-A: docs/porting-tf-a.md.
 */
#ifndef FWA_AGENT_H
#define FWA_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "../frame.h"
#include "proto.h"

/* ---- what the platform provides ------------------------------------------------------ */
#define FWA_WIN_READ 0x1u
#define FWA_WIN_WRITE 0x2u

typedef struct {
    uint64_t base, size; /* physical addresses */
    uint32_t flags;      /* FWA_WIN_* */
} fwa_window;

/* Platform hooks. `ctx` is passed back unchanged. A NULL optional hook means the
 * capability is absent: requests for it are answered FWA_E_UNSUPPORTED. Hooks are only
 * called with arguments the agent has checked (PE index < pe_count, addresses inside a
 * window announced in HELLO). Return codes follow TF-A: 0 success, negative refusal. */
typedef struct fwa_platform {
    void *ctx;
    /* required: a CPU pointer for [pa, pa + len), inside one window (identity map at EL3,
     * shared memory in the sim). NULL = not mapped (answered FWA_E_WINDOW). */
    void *(*map)(void *ctx, uint64_t pa, uint32_t len);
    /* optional: called after the agent stored to [p, p + len) (cache maintenance for a
     * non-coherent observer; TF-A with the region mapped Normal WB shareable needs none). */
    void (*sync)(void *ctx, void *p, uint32_t len);
    /* notifications (optional each) */
    int (*raise_sei)(void *ctx, uint32_t pe);
    /* sdei_dispatch_event(): 0 dispatched (and completed, on a real port), -1 refused;
     * *reason = FWA_SDEI_WHY_* when known. */
    int (*sdei_dispatch)(void *ctx, uint32_t pe, uint32_t event, uint32_t *reason);
    /* *state = FWA_SDEI_ST_* bits for `event` as seen from `pe`. */
    int (*sdei_state)(void *ctx, uint32_t pe, uint32_t event, uint32_t *state);
    int (*pend_irq)(void *ctx, uint32_t pe, uint32_t intid);
    int (*raise_sea)(void *ctx, uint32_t pe);
    /* the UART: getc returns a byte or -1 when none is waiting; write or putc (one is
     * required; write is preferred when both are set) */
    int (*uart_getc)(void *ctx);
    void (*uart_putc)(void *ctx, uint8_t c);
    void (*uart_write)(void *ctx, const uint8_t *p, uint32_t n);
    /* optional: a monotonic microsecond clock (STATUS uptime) */
    uint64_t (*time_us)(void *ctx);
    /* optional: platform bytes for STATUS (the sim sends its OS model's state) */
    int (*status_blob)(void *ctx, uint8_t *out, uint32_t cap);
} fwa_platform;

typedef struct {
    const fwa_platform *plat;
    const char *board_id;  /* up to FWA_BOARD_ID_MAX bytes are announced */
    uint32_t pe_count;
    const fwa_window *windows;
    uint32_t n_windows;    /* up to FWA_MAX_WINDOWS */
    uint32_t boot_count;   /* bumped by the platform at every reset (0 if unknown) */
} fwa_config;

/* ---- agent state (treat as opaque) ----------------------------------------------------- */
typedef struct {
    uint16_t seq;
    uint8_t type, used;
    int32_t code;
    int64_t v1, v2;
    uint8_t nvals;
} fwa_dedupe_entry;

typedef struct {
    uint8_t used, has_ack, ack_width, ack_bit_offset;
    uint32_t slot;
    uint64_t block, ack_addr, ack_preserve, ack_write;
} fwa_watch;

typedef struct {
    uint32_t rx_frames, bad_messages, replies, dup_hits, stale, events, notifications,
        refused, window_refusals, events_dropped;
} fwa_counters;

typedef struct fwa_agent {
    fwa_config cfg;
    uint32_t caps;
    uint8_t session;
    uint32_t nonce;
    uint16_t newest_seq;
    uint16_t ev_seq;
    fw_frame_rx rx;
    uint8_t msg[FW_FRAME_MAX_PAYLOAD];
    uint8_t out[FW_FRAME_MAX_PAYLOAD];
    uint8_t wire[FW_FRAME_MAX_WIRE];
    fwa_dedupe_entry dedupe[FWA_DEDUPE_SLOTS];
    uint32_t dedupe_next;
    fwa_watch watch[FWA_WATCH_SLOTS];
    fwa_counters n;
} fwa_agent;

/* ---- API --------------------------------------------------------------------------------- */
/* Returns FW_OK, or FW_E_INVAL for a config the agent cannot serve (no map/putc hook, too
 * many windows, a window that wraps). No session until the host's HELLO. */
int fwa_init(fwa_agent *a, const fwa_config *cfg);
/* Announces the agent (EV_BOOT): call once after init, when the UART is up. */
void fwa_start(fwa_agent *a);
/* Drains the UART (at most `budget` bytes; 0 = 4096), answers requests, checks watched
 * blocks and sends EV_CONSUMED. Returns the number of frames handled. */
int fwa_poll(fwa_agent *a, uint32_t budget);
/* The same for bytes the platform already has (an RX interrupt handler's FIFO drain). */
int fwa_rx(fwa_agent *a, const uint8_t *p, uint32_t n);
/* Checks watched blocks only; returns the number of EV_CONSUMED sent. */
int fwa_check_watches(fwa_agent *a);
/* One request payload → one reply payload (no framing; what fwa_rx runs per frame). Returns
 * the reply length, or 0 when there is nothing to answer (not even a type and seq). */
uint32_t fwa_handle(fwa_agent *a, const uint8_t *req, uint32_t n, uint8_t *reply, uint32_t cap);
/* Sends EV_LOG with up to FWA_LOG_MAX bytes of `text` (NUL-terminated). */
void fwa_log(fwa_agent *a, const char *text);

#endif
