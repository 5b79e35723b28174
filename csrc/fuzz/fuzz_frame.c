/*
 * libFuzzer harness: arbitrary bytes into the agent's whole receive path — the frame
 * receiver (COBS, CRC-32, resynchronisation), and, for every frame that survives, the
 * msgpack reader and the dispatcher, against a fake platform. A HELLO is fed first so the
 * dispatcher is in a session; the input may also carry its own frames.
 *
 * Because random bytes seldom pass a CRC, the input is also fed a second time with each
 * 0x00-delimited chunk re-framed with a valid CRC (so the fuzzer reaches the dispatcher).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent/agent.h"
#include "frame.h"

static uint8_t mem[0x2000];

static void *fz_map(void *ctx, uint64_t pa, uint32_t len) {
    (void)ctx;
    if (pa >= 0x1000 && pa + len <= 0x1000 + sizeof mem && pa + len >= pa) return mem + (pa - 0x1000);
    return NULL;
}
static int fz_ok(void *ctx, uint32_t pe) {
    (void)ctx;
    return pe == 2 ? -1 : 0;
}
static int fz_sdei(void *ctx, uint32_t pe, uint32_t ev, uint32_t *why) {
    (void)ctx;
    *why = ev & 7;
    return (pe + ev) & 1 ? -1 : 0;
}
static int fz_state(void *ctx, uint32_t pe, uint32_t ev, uint32_t *st) {
    (void)ctx;
    *st = pe ^ ev;
    return ev == 7 ? -1 : 0;
}
static int fz_irq(void *ctx, uint32_t pe, uint32_t intid) {
    (void)ctx;
    return (int)((pe + intid) & 1) * -1;
}
static size_t sink;
static void fz_write(void *ctx, const uint8_t *p, uint32_t n) {
    (void)ctx;
    (void)p;
    sink += n;
}
static uint64_t fz_time(void *ctx) {
    (void)ctx;
    return 1;
}
static int fz_blob(void *ctx, uint8_t *out, uint32_t cap) {
    (void)ctx;
    if (cap < 4) return -1;
    memcpy(out, "blob", 4);
    return 4;
}

static const fwa_platform plat = {NULL, fz_map, NULL, fz_ok, fz_sdei, fz_state, fz_irq, fz_ok,
                                  NULL, NULL, fz_write, fz_time, fz_blob};
static const fwa_window wins[] = {{0x1000, 0x1000, 3}, {0x2000, 0x1000, 1}};
static const fwa_config cfg = {&plat, "fuzz", 4, wins, 2, 1};
static fwa_agent agent;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t hello[] = {0x94, 0x01, 0x01, 0x01, 0x2A}; /* [HELLO, 1, 1, 42] */
    uint8_t wire[FW_FRAME_MAX_WIRE];
    memset(mem, 0, sizeof mem);
    fwa_init(&agent, &cfg);
    int k = fw_frame_encode(hello, sizeof hello, wire, sizeof wire, FW_FRAME_LEAD);
    fwa_rx(&agent, wire, (uint32_t)k);
    /* 1: raw bytes */
    fwa_rx(&agent, data, (uint32_t)size);
    fwa_check_watches(&agent);
    /* 2: every 0x00-separated chunk as a valid frame's payload */
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == 0) {
            size_t n = i - start;
            if (n > 0 && n <= FW_FRAME_MAX_PAYLOAD) {
                k = fw_frame_encode(data + start, n, wire, sizeof wire, 0);
                if (k > 0) fwa_rx(&agent, wire, (uint32_t)k);
                fwa_check_watches(&agent);
            }
            start = i + 1;
        }
    }
    return 0;
}
