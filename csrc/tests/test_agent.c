/*
 * Tests of the debug-channel framing (frame.c), the msgpack subset (agent/mp.c) and the
 * target agent (agent/agent.c) with a fake platform, driven by the golden vectors in
 * protocol/vectors/ (argv[1] = that directory). Run strict and under ASan/UBSan by
 * csrc/Makefile (`make agent-check`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/mp.h"
#include "cper.h"
#include "frame.h"
#include "ghes.h"

#include "tests/check.h"

static uint32_t rng_state = 12345;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* ---- the fake platform (protocol/vectors/agent_session.json "fixture") ------------------- */
#define WIN0 0x80000000ull
#define WIN1 0x80010000ull
static uint8_t mem0[0x1000], mem1[0x100];
static uint8_t txbuf[1 << 16];
static size_t txlen;
static int n_sdei, n_sei, n_irq;

static void *fake_map(void *ctx, uint64_t pa, uint32_t len) {
    (void)ctx;
    if (pa >= WIN0 && pa + len <= WIN0 + sizeof mem0) return mem0 + (pa - WIN0);
    if (pa >= WIN1 && pa + len <= WIN1 + sizeof mem1) return mem1 + (pa - WIN1);
    return NULL;
}
static int fake_sei(void *ctx, uint32_t pe) {
    (void)ctx;
    (void)pe;
    n_sei++;
    return 0;
}
static int fake_sdei(void *ctx, uint32_t pe, uint32_t ev, uint32_t *why) {
    (void)ctx;
    if (pe == 3) return *why = FWA_SDEI_WHY_MASKED, -1;
    if (ev == 0) return *why = FWA_SDEI_WHY_EVENT0, -1;
    if (ev != 5000 && ev != 5003) return *why = FWA_SDEI_WHY_NOT_EXPLICIT, -1;
    n_sdei++;
    return 0;
}
static int fake_sdei_state(void *ctx, uint32_t pe, uint32_t ev, uint32_t *st) {
    (void)ctx;
    if (ev != 5000 && ev != 5003) return -1;
    *st = FWA_SDEI_ST_REGISTERED | FWA_SDEI_ST_ENABLED | (ev == 5003 ? FWA_SDEI_ST_CRITICAL : 0) |
          (pe == 3 ? FWA_SDEI_ST_PE_MASKED : 0);
    return 0;
}
static int fake_irq(void *ctx, uint32_t pe, uint32_t intid) {
    (void)ctx;
    (void)pe;
    if (intid >= 1020) return -1;
    n_irq++;
    return 0;
}
static void fake_putc(void *ctx, uint8_t c) {
    (void)ctx;
    if (txlen < sizeof txbuf) txbuf[txlen++] = c;
}
static uint64_t fake_time(void *ctx) {
    (void)ctx;
    return 123456;
}

static const fwa_platform fake = {
    NULL, fake_map, NULL, fake_sei, fake_sdei, fake_sdei_state, fake_irq, NULL,
    NULL, fake_putc, NULL, fake_time, NULL};
static const fwa_window windows[] = {{WIN0, 0x1000, FWA_WIN_READ | FWA_WIN_WRITE}, {WIN1, 0x100, FWA_WIN_READ}};
static const fwa_config fake_cfg = {&fake, "fwemu-test", 4, windows, 2, 7};

static void fake_reset(void) {
    memset(mem0, 0, sizeof mem0);
    memset(mem1, 0, sizeof mem1);
    txlen = 0;
    n_sdei = n_sei = n_irq = 0;
}

/* ---- tiny JSON-line helpers for the vector files (one object per line) ------------------- */
static char *slurp(const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (buf) buf[n] = 0;
    fclose(f);
    return buf;
}

/* The string value of "key" within [line, end), copied to out; -1 if absent. */
static int str_field(const char *line, const char *end, const char *key, char *out, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    const char *p = strstr(line, pat);
    if (!p || p >= end) return -1;
    p += strlen(pat);
    size_t n = 0;
    while (p < end && *p != '"' && n + 1 < cap) out[n++] = *p++;
    out[n] = 0;
    return (int)n;
}

static long int_field(const char *line, const char *end, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(line, pat);
    if (!p || p >= end) return -1;
    return strtol(p + strlen(pat), NULL, 10);
}

static int bool_field(const char *line, const char *end, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": true", key);
    const char *p = strstr(line, pat);
    return p && p < end;
}

static size_t unhex(const char *s, uint8_t *out, size_t cap) {
    size_t n = 0;
    while (s[0] && s[1] && n < cap) {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1) break;
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

static char hexbuf[8 * 4096];
static uint8_t bin_a[4096], bin_b[4096];

/* ---- framing -------------------------------------------------------------------------------- */
static void test_crc_and_cobs(void) {
    CHECK(fw_crc32(0, (const uint8_t *)"123456789", 9) == 0xCBF43926u); /* the CRC-32 check value */
    uint8_t in[2000], enc[2100], dec[2000];
    for (int round = 0; round < 3000; round++) {
        size_t n = rnd() % 1600;
        for (size_t i = 0; i < n; i++) in[i] = (rnd() % 4 == 0) ? 0 : (uint8_t)rnd();
        if (round % 7 == 0)
            for (size_t i = 0; i < n; i++) in[i] = (uint8_t)(1 + rnd() % 255);
        int e = fw_cobs_encode(in, n, enc, sizeof enc);
        CHECK(e > 0 && (size_t)e <= FW_COBS_MAX(n));
        CHECK(memchr(enc, 0, (size_t)e) == NULL);
        int d = fw_cobs_decode(enc, (size_t)e, dec, sizeof dec);
        CHECK(d == (int)n && memcmp(in, dec, n) == 0);
        CHECK(fw_cobs_encode(in, n, enc, (size_t)e - 1) == FW_E_NOSPACE);
    }
    CHECK(fw_cobs_decode((const uint8_t *)"\x05\x11", 2, dec, sizeof dec) == FW_E_FRAME_COBS);
}

static void test_frame_vectors(const char *dir) {
    char *doc = slurp(dir, "frames.json");
    CHECK(doc != NULL);
    if (!doc) return;
    int good = 0, bad = 0;
    for (char *line = doc; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        if (str_field(line, end, "wire_hex", hexbuf, sizeof hexbuf) < 0) continue;
        size_t wn = unhex(hexbuf, bin_a, sizeof bin_a);
        fw_frame_rx rx;
        fw_frame_rx_init(&rx);
        uint8_t out[FW_FRAME_MAX_PAYLOAD];
        if (str_field(line, end, "payload_hex", hexbuf, sizeof hexbuf) >= 0) {
            size_t pn = unhex(hexbuf, bin_b, sizeof bin_b);
            int lead = bool_field(line, end, "lead");
            uint8_t wire[FW_FRAME_MAX_WIRE];
            int k = fw_frame_encode(bin_b, pn, wire, sizeof wire, lead ? FW_FRAME_LEAD : 0);
            CHECK(k == (int)wn && memcmp(wire, bin_a, wn) == 0);
            size_t used = 0;
            int got = fw_frame_rx_feed(&rx, bin_a, wn, &used, out, sizeof out);
            CHECK(got == (int)pn && used == wn && memcmp(out, bin_b, pn) == 0);
            good++;
        } else {
            char why[16];
            str_field(line, end, "error", why, sizeof why);
            size_t used = 0;
            CHECK(fw_frame_rx_feed(&rx, bin_a, wn, &used, out, sizeof out) == 0 && used == wn);
            if (!strcmp(why, "crc")) CHECK(rx.crc_errors == 1);
            else if (!strcmp(why, "cobs")) CHECK(rx.cobs_errors == 1);
            else if (!strcmp(why, "short")) CHECK(rx.short_frames == 1);
            else if (!strcmp(why, "long")) CHECK(rx.long_frames == 1);
            else CHECK(0);
            /* and the receiver is in step again: the next good frame gets through */
            uint8_t wire[64], p[3] = {0x93, 0x09, 0x01};
            int k = fw_frame_encode(p, 3, wire, sizeof wire, 0);
            CHECK(fw_frame_rx_feed(&rx, wire, (size_t)k, &used, out, sizeof out) == 3);
            bad++;
        }
    }
    CHECK(good >= 8 && bad >= 4);
    free(doc);
}

/* Noise between frames: every frame sent with a leading delimiter survives any garbage. */
static void test_rx_resync(void) {
    fw_frame_rx rx;
    fw_frame_rx_init(&rx);
    uint8_t stream[8192], out[FW_FRAME_MAX_PAYLOAD];
    int sent = 0, got = 0;
    size_t n = 0;
    for (int f = 0; f < 50; f++) {
        size_t noise = rnd() % 40;
        for (size_t i = 0; i < noise; i++) stream[n++] = (uint8_t)rnd();
        uint8_t p[40];
        size_t pl = 1 + rnd() % 39;
        for (size_t i = 0; i < pl; i++) p[i] = (uint8_t)rnd();
        int k = fw_frame_encode(p, pl, stream + n, sizeof stream - n, FW_FRAME_LEAD);
        n += (size_t)k;
        sent++;
    }
    size_t off = 0;
    while (off < n) {
        size_t used = 0;
        if (fw_frame_rx_feed(&rx, stream + off, n - off, &used, out, sizeof out) > 0) got++;
        off += used;
    }
    CHECK(got == sent);
}

/* ---- msgpack subset ----------------------------------------------------------------------- */
static void test_mp(void) {
    uint8_t buf[256];
    fwa_mpw w;
    fwa_mpw_init(&w, buf, sizeof buf);
    const int64_t ints[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 0xFFFFFFFFll, 0x100000000ll,
                            -1, -32, -33, -128, -129, -32768, -32769, INT64_MIN, INT64_MAX};
    size_t nints = sizeof ints / sizeof ints[0];
    fwa_mpw_array(&w, (uint32_t)nints + 3);
    for (size_t i = 0; i < nints; i++) fwa_mpw_int(&w, ints[i]);
    fwa_mpw_uint(&w, UINT64_MAX);
    fwa_mpw_bin(&w, (const uint8_t *)"xyz", 3);
    fwa_mpw_map(&w, 1);
    fwa_mpw_uint(&w, 1);
    fwa_mpw_nil(&w);
    CHECK(!w.err);
    fwa_mpr r;
    fwa_mpr_init(&r, buf, w.len);
    CHECK(fwa_mpr_array(&r, 100) == nints + 3);
    for (size_t i = 0; i < nints; i++) CHECK(fwa_mpr_int(&r, INT64_MIN, INT64_MAX) == ints[i]);
    CHECK(fwa_mpr_uint(&r, UINT64_MAX) == UINT64_MAX);
    uint32_t n;
    const uint8_t *p = fwa_mpr_bin(&r, &n, 10);
    CHECK(p && n == 3 && memcmp(p, "xyz", 3) == 0);
    CHECK(fwa_mpr_map(&r, 4) == 1 && fwa_mpr_uint(&r, 9) == 1 && fwa_mpr_nil(&r));
    CHECK(!r.err && r.pos == w.len);
    /* skip = the whole thing */
    fwa_mpr_init(&r, buf, w.len);
    fwa_mpr_skip(&r);
    CHECK(!r.err && r.pos == w.len);
    /* minimal encodings, as Python's msgpack packs them */
    fwa_mpw_init(&w, buf, sizeof buf);
    fwa_mpw_int(&w, 200);
    fwa_mpw_int(&w, -100);
    CHECK(w.len == 4 && buf[0] == 0xCC && buf[1] == 200 && buf[2] == 0xD0 && buf[3] == (uint8_t)-100);
    /* a claimed huge array fails at once, and nothing reads past the end */
    static const uint8_t huge[] = {0xDD, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    fwa_mpr_init(&r, huge, sizeof huge);
    fwa_mpr_skip(&r);
    CHECK(r.err);
    fwa_mpr_init(&r, huge, sizeof huge);
    CHECK(fwa_mpr_array(&r, 15) == 0 && r.err);
    /* writer overflow is sticky */
    fwa_mpw_init(&w, buf, 2);
    fwa_mpw_uint(&w, 70000);
    CHECK(w.err);
    /* random bytes never crash the reader */
    for (int round = 0; round < 20000; round++) {
        uint8_t junk[24];
        for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)rnd();
        fwa_mpr_init(&r, junk, 1 + rnd() % sizeof junk);
        fwa_mpr_skip(&r);
        CHECK(r.pos <= r.len);
    }
}

/* ---- the agent against the golden session ---------------------------------------------- */
static void test_agent_session(const char *dir) {
    char *doc = slurp(dir, "agent_session.json");
    CHECK(doc != NULL);
    if (!doc) return;
    static fwa_agent a;
    fake_reset();
    CHECK(fwa_init(&a, &fake_cfg) == FW_OK);
    int steps = 0;
    for (char *line = doc; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        if (strncmp(line, "{\"step\": ", 9) != 0) continue;
        long step = int_field(line, end, "step");
        txlen = 0;
        char ow[64];
        if (str_field(line, end, "os_write", ow, sizeof ow) > 0) {
            unsigned long long addr, width, value;
            CHECK(sscanf(ow, "%llx:%llx:%llx", &addr, &width, &value) == 3);
            uint8_t *p = fake_map(NULL, addr, (uint32_t)(width / 8));
            CHECK(p != NULL);
            if (p) fw_reg_write(p, (unsigned)width, value);
        }
        if (bool_field(line, end, "start")) fwa_start(&a);
        str_field(line, end, "send_hex", hexbuf, sizeof hexbuf);
        size_t sn = unhex(hexbuf, bin_a, sizeof bin_a);
        if (sn) fwa_rx(&a, bin_a, (uint32_t)sn);
        if (bool_field(line, end, "poll")) fwa_check_watches(&a);
        str_field(line, end, "expect_hex", hexbuf, sizeof hexbuf);
        size_t en = unhex(hexbuf, bin_b, sizeof bin_b);
        int same = txlen == en && memcmp(txbuf, bin_b, en) == 0;
        CHECK(same);
        if (!same) {
            fprintf(stderr, "  step %ld: got ", step);
            for (size_t i = 0; i < txlen; i++) fprintf(stderr, "%02x", txbuf[i]);
            fprintf(stderr, "\n  step %ld: want %s\n", step, hexbuf);
        }
        CHECK(n_sdei == int_field(line, end, "n_sdei"));
        CHECK(n_sei == int_field(line, end, "n_sei"));
        CHECK(n_irq == int_field(line, end, "n_irq"));
        steps++;
    }
    CHECK(steps >= 40);
    free(doc);
}

/* ---- properties not in the vectors -------------------------------------------------------- */
static size_t req(uint8_t *out, size_t cap, int type, int seq, int nargs, const uint64_t *args) {
    uint8_t p[256];
    fwa_mpw w;
    fwa_mpw_init(&w, p, sizeof p);
    fwa_mpw_array(&w, 2 + (uint32_t)nargs);
    fwa_mpw_uint(&w, (uint64_t)type);
    fwa_mpw_uint(&w, (uint64_t)seq);
    for (int i = 0; i < nargs; i++) fwa_mpw_uint(&w, args[i]);
    int k = fw_frame_encode(p, w.len, out, cap, FW_FRAME_LEAD);
    return k > 0 ? (size_t)k : 0;
}

static void hello(fwa_agent *a, int seq, uint32_t nonce) {
    uint8_t f[64];
    uint64_t args[2] = {1, nonce};
    size_t n = req(f, sizeof f, FWA_T_HELLO, seq, 2, args);
    fwa_rx(a, f, (uint32_t)n);
}

/* A lossy link: every request retried until a reply arrives; notifications exactly once. */
static void test_exactly_once_under_corruption(void) {
    static fwa_agent a;
    fake_reset();
    CHECK(fwa_init(&a, &fake_cfg) == FW_OK);
    hello(&a, 100, 42);
    int done = 0, lost = 0;
    for (int i = 0; i < 2000; i++) {
        int seq = 101 + i;
        uint64_t args[2] = {(uint64_t)(i % 3), 5000};
        uint8_t f[64];
        size_t n = req(f, sizeof f, FWA_T_SDEI, seq & 0xFFFF, 2, args);
        for (int attempt = 0; attempt < 50; attempt++) {
            uint8_t g[64];
            memcpy(g, f, n);
            if (rnd() % 3 == 0) g[1 + rnd() % (n - 2)] ^= (uint8_t)(1 + rnd() % 255); /* corrupt */
            txlen = 0;
            fwa_rx(&a, g, (uint32_t)n);
            if (txlen && rnd() % 3 != 0) { /* reply delivered (or lost on the way back) */
                done++;
                break;
            }
            lost++;
        }
    }
    CHECK(done == 2000);
    CHECK(n_sdei == 2000);
    CHECK(lost > 100);
    /* sequence numbers wrap at 65536 */
    fake_reset();
    CHECK(fwa_init(&a, &fake_cfg) == FW_OK);
    hello(&a, 65530, 7);
    for (int i = 1; i <= 20; i++) {
        uint64_t args[1] = {0};
        uint8_t f[64];
        size_t n = req(f, sizeof f, FWA_T_SEI, (65530 + i) & 0xFFFF, 1, args);
        fwa_rx(&a, f, (uint32_t)n);
        fwa_rx(&a, f, (uint32_t)n); /* duplicated by the link */
    }
    CHECK(n_sei == 20);
}

static void test_windows_and_config(void) {
    static fwa_agent a;
    fwa_window wrap[1] = {{0xFFFFFFFFFFFFF000ull, 0x2000, 3}};
    fwa_config c = fake_cfg;
    c.windows = wrap;
    c.n_windows = 1;
    CHECK(fwa_init(&a, &c) == FW_E_INVAL);
    fwa_platform noputc = fake;
    noputc.uart_putc = NULL;
    c = fake_cfg;
    c.plat = &noputc;
    CHECK(fwa_init(&a, &c) == FW_E_INVAL);
    /* addresses near 2^64 never wrap past a window check */
    fake_reset();
    CHECK(fwa_init(&a, &fake_cfg) == FW_OK);
    hello(&a, 1, 1);
    uint8_t f[64];
    uint64_t args[2] = {0xFFFFFFFFFFFFFFFFull, 64};
    size_t n = req(f, sizeof f, FWA_T_READ_REG, 2, 2, args);
    txlen = 0;
    fwa_rx(&a, f, (uint32_t)n);
    uint8_t out[64];
    size_t used;
    fw_frame_rx rx;
    fw_frame_rx_init(&rx);
    int k = fw_frame_rx_feed(&rx, txbuf, txlen, &used, out, sizeof out);
    CHECK(k == 4 && out[3] == FWA_E_WINDOW);
    CHECK(a.n.window_refusals == 1);
}

/* A record bigger than one frame: POST_DATA for the tail, POST for the head. */
static void test_multi_frame_post(void) {
    static fwa_agent a;
    fake_reset();
    CHECK(fwa_init(&a, &fake_cfg) == FW_OK);
    hello(&a, 1, 9);
    uint8_t rec[1500];
    for (size_t i = 0; i < sizeof rec; i++) rec[i] = (uint8_t)(i * 7 + 1);
    rec[0] = 0x11;
    rec[1] = rec[2] = rec[3] = 0;
    uint8_t p[FW_FRAME_MAX_PAYLOAD], f[FW_FRAME_MAX_WIRE];
    fwa_mpw w;
    fwa_mpw_init(&w, p, sizeof p);
    fwa_mpw_array(&w, 6);
    fwa_mpw_uint(&w, FWA_T_POST_DATA);
    fwa_mpw_uint(&w, 2);
    fwa_mpw_uint(&w, WIN0 + 0x800);
    fwa_mpw_uint(&w, 0x800);
    fwa_mpw_uint(&w, 1000);
    fwa_mpw_bin(&w, rec + 1000, 500);
    int k = fw_frame_encode(p, w.len, f, sizeof f, 0);
    fwa_rx(&a, f, (uint32_t)k);
    fwa_mpw_init(&w, p, sizeof p);
    fwa_mpw_array(&w, 8);
    fwa_mpw_uint(&w, FWA_T_POST);
    fwa_mpw_uint(&w, 3);
    fwa_mpw_uint(&w, 1);
    fwa_mpw_uint(&w, WIN0 + 0x800);
    fwa_mpw_uint(&w, 0x800);
    fwa_mpw_bin(&w, rec, 1000);
    fwa_mpw_uint(&w, 0);
    fwa_mpw_nil(&w);
    k = fw_frame_encode(p, w.len, f, sizeof f, 0);
    CHECK(k > 1000);
    fwa_rx(&a, f, (uint32_t)k);
    CHECK(memcmp(mem0 + 0x800, rec, sizeof rec) == 0);
    CHECK(fw_block_status(mem0 + 0x800) == 0x11);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "../protocol/vectors";
    test_crc_and_cobs();
    test_frame_vectors(dir);
    test_rx_resync();
    test_mp();
    test_agent_session(dir);
    test_exactly_once_under_corruption();
    test_windows_and_config();
    test_multi_frame_post();
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
