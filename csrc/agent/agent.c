/*
 * The fwemu target agent: frame receiver, request dispatcher, dedupe table, window checks
 * and consumption watches (agent.h, protocol/PROTOCOL.md).
 */
#include "agent.h"

#include <string.h>

#include "../cper.h"
#include "../ghes.h"
#include "mp.h"

/* A request's outcome, as remembered by the dedupe table: a code and up to two ints. */
typedef struct {
    int32_t code;
    uint8_t nvals;
    int64_t v1, v2;
} result;

static result res(int32_t code) {
    result r;
    r.code = code;
    r.nvals = 0;
    r.v1 = r.v2 = 0;
    return r;
}

static result res1(int32_t code, int64_t v1) {
    result r = res(code);
    r.nvals = 1;
    r.v1 = v1;
    return r;
}

static result res2(int32_t code, int64_t v1, int64_t v2) {
    result r = res1(code, v1);
    r.nvals = 2;
    r.v2 = v2;
    return r;
}

static int has_side_effect(uint32_t t) {
    switch (t) {
    case FWA_T_WRITE: case FWA_T_WRITE_REG: case FWA_T_POST: case FWA_T_POST_DATA:
    case FWA_T_WITHDRAW: case FWA_T_SEI: case FWA_T_SDEI: case FWA_T_IRQ: case FWA_T_SEA:
        return 1;
    default:
        return 0;
    }
}

/* ---- init ------------------------------------------------------------------------------- */
int fwa_init(fwa_agent *a, const fwa_config *cfg) {
    if (!a || !cfg || !cfg->plat || !cfg->plat->map) return FW_E_INVAL;
    if (!cfg->plat->uart_putc && !cfg->plat->uart_write) return FW_E_INVAL;
    if (cfg->n_windows > FWA_MAX_WINDOWS || (cfg->n_windows && !cfg->windows)) return FW_E_INVAL;
    for (uint32_t i = 0; i < cfg->n_windows; i++) {
        const fwa_window *w = &cfg->windows[i];
        if (w->size == 0 || w->base + (w->size - 1) < w->base) return FW_E_INVAL;
    }
    memset(a, 0, sizeof *a);
    a->cfg = *cfg;
    const fwa_platform *p = cfg->plat;
    a->caps = (p->raise_sei ? FWA_CAP_SEI : 0u) | (p->sdei_dispatch ? FWA_CAP_SDEI : 0u) |
              (p->pend_irq ? FWA_CAP_IRQ : 0u) | (p->raise_sea ? FWA_CAP_SEA : 0u) |
              (p->sdei_state ? FWA_CAP_SDEI_STATE : 0u) | FWA_CAP_EVENTS |
              (p->status_blob ? FWA_CAP_STATUS_BLOB : 0u);
    fw_frame_rx_init(&a->rx);
    return FW_OK;
}

/* ---- output ------------------------------------------------------------------------------ */
static void send_payload(fwa_agent *a, const uint8_t *payload, uint32_t n) {
    int k = fw_frame_encode(payload, n, a->wire, sizeof a->wire, 0);
    if (k <= 0) return;
    const fwa_platform *p = a->cfg.plat;
    if (p->uart_write) {
        p->uart_write(p->ctx, a->wire, (uint32_t)k);
    } else {
        for (int i = 0; i < k; i++) p->uart_putc(p->ctx, a->wire[i]);
    }
}

static void send_event(fwa_agent *a, fwa_mpw *w) {
    if (w->err) {
        a->n.events_dropped++;
        return;
    }
    a->n.events++;
    send_payload(a, w->p, w->len);
}

void fwa_start(fwa_agent *a) {
    uint8_t buf[32];
    fwa_mpw w;
    fwa_mpw_init(&w, buf, sizeof buf);
    fwa_mpw_array(&w, 4);
    fwa_mpw_uint(&w, FWA_EV_BOOT);
    fwa_mpw_uint(&w, a->ev_seq++);
    fwa_mpw_uint(&w, a->cfg.boot_count);
    fwa_mpw_uint(&w, FWA_PROTO_VERSION);
    send_event(a, &w);
}

void fwa_log(fwa_agent *a, const char *text) {
    uint8_t buf[FWA_LOG_MAX + 16];
    uint32_t n = 0;
    while (text && n < FWA_LOG_MAX && text[n]) n++;
    fwa_mpw w;
    fwa_mpw_init(&w, buf, sizeof buf);
    fwa_mpw_array(&w, 3);
    fwa_mpw_uint(&w, FWA_EV_LOG);
    fwa_mpw_uint(&w, a->ev_seq++);
    fwa_mpw_bin(&w, (const uint8_t *)text, n);
    send_event(a, &w);
}

/* ---- memory through the windows ----------------------------------------------------------- */
static int in_window(const fwa_agent *a, uint64_t addr, uint64_t len, uint32_t need) {
    if (len == 0) return 0;
    for (uint32_t i = 0; i < a->cfg.n_windows; i++) {
        const fwa_window *w = &a->cfg.windows[i];
        if ((w->flags & need) != need || addr < w->base) continue;
        uint64_t off = addr - w->base;
        if (off < w->size && len <= w->size - off) return 1;
    }
    return 0;
}

static uint8_t *mem(fwa_agent *a, uint64_t addr, uint64_t len, uint32_t need) {
    if (len > 0xFFFFFFFFu || !in_window(a, addr, len, need)) {
        a->n.window_refusals++;
        return 0;
    }
    return (uint8_t *)a->cfg.plat->map(a->cfg.plat->ctx, addr, (uint32_t)len);
}

static void synced(fwa_agent *a, void *p, uint32_t len) {
    if (a->cfg.plat->sync) a->cfg.plat->sync(a->cfg.plat->ctx, p, len);
}

static int reg_width_ok(uint64_t w) { return w == 8 || w == 16 || w == 32 || w == 64; }

/* Read Ack descriptor: nil, or [address, width, bit_offset, preserve, write]. */
static int read_ack(fwa_mpr *r, int *present, uint64_t *addr, fw_ack_reg *reg) {
    *present = 0;
    if (fwa_mpr_nil(r)) return 1;
    if (fwa_mpr_array(r, 5) != 5) return 0;
    *addr = fwa_mpr_uint(r, UINT64_MAX);
    uint64_t width = fwa_mpr_uint(r, 64);
    reg->bit_offset = (uint8_t)fwa_mpr_uint(r, 63);
    reg->preserve = fwa_mpr_uint(r, UINT64_MAX);
    reg->write = fwa_mpr_uint(r, UINT64_MAX);
    if (r->err || !reg_width_ok(width)) return 0;
    reg->width_bits = (uint8_t)width;
    *present = 1;
    return 1;
}

/* ---- watches -------------------------------------------------------------------------------- */
static fwa_watch *watch_for(fwa_agent *a, uint32_t slot, int create) {
    fwa_watch *free_w = 0;
    for (uint32_t i = 0; i < FWA_WATCH_SLOTS; i++) {
        fwa_watch *w = &a->watch[i];
        if (w->used && w->slot == slot) return w;
        if (!w->used && !free_w) free_w = w;
    }
    return create ? free_w : 0;
}

static void emit_consumed(fwa_agent *a, uint32_t slot, uint32_t how) {
    uint8_t buf[24];
    fwa_mpw w;
    fwa_mpw_init(&w, buf, sizeof buf);
    fwa_mpw_array(&w, 4);
    fwa_mpw_uint(&w, FWA_EV_CONSUMED);
    fwa_mpw_uint(&w, a->ev_seq++);
    fwa_mpw_uint(&w, slot);
    fwa_mpw_uint(&w, how);
    send_event(a, &w);
}

int fwa_check_watches(fwa_agent *a) {
    int sent = 0;
    for (uint32_t i = 0; i < FWA_WATCH_SLOTS; i++) {
        fwa_watch *w = &a->watch[i];
        if (!w->used) continue;
        uint32_t how = 0;
        if (w->has_ack) {
            fw_ack_reg reg = {w->ack_preserve, w->ack_write, w->ack_bit_offset, w->ack_width};
            uint8_t *p = (uint8_t *)a->cfg.plat->map(a->cfg.plat->ctx, w->ack_addr, w->ack_width / 8u);
            if (p && fw_ack_is_acked(&reg, fw_reg_read(p, w->ack_width))) how = FWA_CONSUMED_ACK;
        } else {
            uint8_t *p = (uint8_t *)a->cfg.plat->map(a->cfg.plat->ctx, w->block, 4);
            if (p && fw_block_status(p) == 0) how = FWA_CONSUMED_STATUS;
        }
        if (how) {
            w->used = 0;
            emit_consumed(a, w->slot, how);
            sent++;
        }
    }
    return sent;
}

/* ---- requests ----------------------------------------------------------------------------- */
static result do_write(fwa_agent *a, fwa_mpr *r) {
    uint64_t addr = fwa_mpr_uint(r, UINT64_MAX);
    uint32_t n;
    const uint8_t *data = fwa_mpr_bin(r, &n, FWA_MAX_DATA);
    if (r->err) return res(FWA_E_MALFORMED);
    if (n == 0) return res(FWA_OK);
    uint8_t *p = mem(a, addr, n, FWA_WIN_WRITE);
    if (!p) return res(FWA_E_WINDOW);
    memcpy(p, data, n);
    synced(a, p, n);
    return res(FWA_OK);
}

static result do_write_reg(fwa_agent *a, fwa_mpr *r) {
    uint64_t addr = fwa_mpr_uint(r, UINT64_MAX);
    uint64_t width = fwa_mpr_uint(r, 64);
    uint64_t value = fwa_mpr_uint(r, UINT64_MAX);
    if (r->err) return res(FWA_E_MALFORMED);
    if (!reg_width_ok(width)) return res(FWA_E_INVAL);
    uint8_t *p = mem(a, addr, width / 8, FWA_WIN_WRITE);
    if (!p) return res(FWA_E_WINDOW);
    fw_reg_write(p, (unsigned)width, value);
    synced(a, p, (uint32_t)(width / 8));
    return res(FWA_OK);
}

static result do_post(fwa_agent *a, fwa_mpr *r) {
    uint32_t slot = (uint32_t)fwa_mpr_uint(r, 0xFFFF);
    uint64_t block = fwa_mpr_uint(r, UINT64_MAX);
    uint64_t block_len = fwa_mpr_uint(r, FW_MAX_BLOCK);
    uint32_t n;
    const uint8_t *rec = fwa_mpr_bin(r, &n, FWA_MAX_DATA);
    uint64_t flags = fwa_mpr_uint(r, 0xFF);
    int has_ack;
    uint64_t ack_addr = 0;
    fw_ack_reg reg;
    memset(&reg, 0, sizeof reg);
    if (r->err || !read_ack(r, &has_ack, &ack_addr, &reg)) return res(FWA_E_MALFORMED);
    if (n < FW_ESTATUS_HDR_LEN) return res(FWA_E_INVAL);
    if (n > block_len) return res(FWA_E_TOO_BIG);
    uint8_t *blk = mem(a, block, block_len, FWA_WIN_WRITE | FWA_WIN_READ);
    if (!blk) return res(FWA_E_WINDOW);
    uint8_t *ack = 0;
    if (has_ack) {
        ack = mem(a, ack_addr, reg.width_bits / 8u, FWA_WIN_WRITE | FWA_WIN_READ);
        if (!ack) return res(FWA_E_WINDOW);
    }
    /* The C core's whole post: refused while block_status is non-zero or (GHESv2) the
     * Read Ack register does not show the OS's ack; else re-arm Read Ack, so an ack seen
     * later is the OS's answer to this record, and the ordered commit. */
    fw_source src = {blk, (size_t)block_len, ack, reg};
    int rc = fw_source_post(&src, rec, n, (flags & FWA_POST_FORCE) ? FW_POST_FORCE : 0u);
    if (rc == FW_E_BUSY || rc == FW_E_UNACKED) {
        uint32_t status = fw_block_status(blk);
        if (!ack) return res1(FWA_E_BUSY, status);
        return res2(FWA_E_BUSY, status, fw_ack_is_acked(&reg, fw_reg_read(ack, reg.width_bits)));
    }
    if (rc != FW_OK) return res1(FWA_E_REFUSED, rc);
    if (ack) synced(a, ack, reg.width_bits / 8u);
    synced(a, blk, (uint32_t)block_len);
    fwa_watch *w = watch_for(a, slot, 1);
    if (w) {
        w->used = 1;
        w->slot = slot;
        w->block = block;
        w->has_ack = (uint8_t)has_ack;
        w->ack_addr = ack_addr;
        w->ack_width = reg.width_bits;
        w->ack_bit_offset = reg.bit_offset;
        w->ack_preserve = reg.preserve;
        w->ack_write = reg.write;
    }
    return res1(FWA_OK, w ? 1 : 0);
}

static result do_post_data(fwa_agent *a, fwa_mpr *r) {
    uint64_t block = fwa_mpr_uint(r, UINT64_MAX);
    uint64_t block_len = fwa_mpr_uint(r, FW_MAX_BLOCK);
    uint64_t off = fwa_mpr_uint(r, FW_MAX_BLOCK);
    uint32_t n;
    const uint8_t *data = fwa_mpr_bin(r, &n, FWA_MAX_DATA);
    if (r->err) return res(FWA_E_MALFORMED);
    if (off < FW_ESTATUS_HDR_LEN) return res(FWA_E_INVAL);
    if (off + n > block_len) return res(FWA_E_TOO_BIG);
    uint8_t *blk = mem(a, block, block_len, FWA_WIN_WRITE | FWA_WIN_READ);
    if (!blk) return res(FWA_E_WINDOW);
    uint32_t status = fw_block_status(blk);
    if (status != 0) return res1(FWA_E_BUSY, status); /* never under a pending record */
    if (n) {
        memcpy(blk + off, data, n);
        synced(a, blk + off, n);
    }
    return res(FWA_OK);
}

static result do_withdraw(fwa_agent *a, fwa_mpr *r) {
    uint32_t slot = (uint32_t)fwa_mpr_uint(r, 0xFFFF);
    uint64_t block = fwa_mpr_uint(r, UINT64_MAX);
    int has_ack;
    uint64_t ack_addr = 0;
    fw_ack_reg reg;
    memset(&reg, 0, sizeof reg);
    if (r->err || !read_ack(r, &has_ack, &ack_addr, &reg)) return res(FWA_E_MALFORMED);
    uint8_t *blk = mem(a, block, 4, FWA_WIN_WRITE | FWA_WIN_READ);
    if (!blk) return res(FWA_E_WINDOW);
    uint8_t *ack = 0;
    if (has_ack) {
        ack = mem(a, ack_addr, reg.width_bits / 8u, FWA_WIN_WRITE | FWA_WIN_READ);
        if (!ack) return res(FWA_E_WINDOW);
    }
    fwa_watch *w = watch_for(a, slot, 0);
    if (w) w->used = 0;
    uint32_t was = fw_block_status(blk);
    fw_reg_write(blk, 32, 0);
    synced(a, blk, 4);
    if (ack) {
        fw_reg_write(ack, reg.width_bits, fw_ack_os_value(&reg, fw_reg_read(ack, reg.width_bits)));
        synced(a, ack, reg.width_bits / 8u);
    }
    return res1(FWA_OK, was);
}

static result do_notify(fwa_agent *a, uint32_t type, fwa_mpr *r) {
    const fwa_platform *p = a->cfg.plat;
    uint64_t pe = fwa_mpr_uint(r, 0xFFFFFFFFu);
    uint64_t arg = 0;
    if (type == FWA_T_SDEI || type == FWA_T_IRQ) arg = fwa_mpr_uint(r, 0xFFFFFFFFu);
    if (r->err) return res(FWA_E_MALFORMED);
    if (pe >= a->cfg.pe_count) return res(FWA_E_INVAL);
    int rc;
    uint32_t why = FWA_SDEI_WHY_UNKNOWN;
    switch (type) {
    case FWA_T_SEI:
        if (!p->raise_sei) return res(FWA_E_UNSUPPORTED);
        rc = p->raise_sei(p->ctx, (uint32_t)pe);
        break;
    case FWA_T_SDEI:
        if (!p->sdei_dispatch) return res(FWA_E_UNSUPPORTED);
        rc = p->sdei_dispatch(p->ctx, (uint32_t)pe, (uint32_t)arg, &why);
        if (rc != 0) {
            a->n.refused++;
            return res2(FWA_E_REFUSED, rc, why);
        }
        break;
    case FWA_T_IRQ:
        if (!p->pend_irq) return res(FWA_E_UNSUPPORTED);
        rc = p->pend_irq(p->ctx, (uint32_t)pe, (uint32_t)arg);
        break;
    default:
        if (!p->raise_sea) return res(FWA_E_UNSUPPORTED);
        rc = p->raise_sea(p->ctx, (uint32_t)pe);
        break;
    }
    if (rc != 0) {
        a->n.refused++;
        return res1(FWA_E_REFUSED, rc);
    }
    a->n.notifications++;
    return res(FWA_OK);
}

/* [type, seq, code, vals...] */
static void reply_head(fwa_mpw *w, uint32_t type, uint32_t seq, int32_t code, uint32_t extra) {
    fwa_mpw_array(w, 3 + extra);
    fwa_mpw_uint(w, type);
    fwa_mpw_uint(w, seq);
    fwa_mpw_int(w, code);
}

static void reply_result(fwa_mpw *w, uint32_t type, uint32_t seq, const result *rs) {
    reply_head(w, type, seq, rs->code, rs->nvals);
    if (rs->nvals >= 1) fwa_mpw_int(w, rs->v1);
    if (rs->nvals >= 2) fwa_mpw_int(w, rs->v2);
}

static void do_hello(fwa_agent *a, fwa_mpr *r, fwa_mpw *w, uint32_t seq) {
    uint64_t version = fwa_mpr_uint(r, 0xFFFF);
    uint64_t nonce = fwa_mpr_uint(r, 0xFFFFFFFFu);
    if (r->err) {
        reply_head(w, FWA_T_HELLO, seq, FWA_E_MALFORMED, 0);
        return;
    }
    if (version < FWA_PROTO_MIN_VERSION) {
        reply_head(w, FWA_T_HELLO, seq, FWA_E_VERSION, 1);
        fwa_mpw_map(w, 1);
        fwa_mpw_uint(w, FWA_H_VERSION);
        fwa_mpw_uint(w, FWA_PROTO_VERSION);
        return;
    }
    /* A new nonce starts a new session (forget remembered replies). The same nonce again
     * is a retried or duplicated HELLO: answered, but the dedupe table is kept, so a late
     * copy of a HELLO can never make an older request executable twice. */
    if (!a->session || (uint32_t)nonce != a->nonce) {
        a->session = 1;
        a->nonce = (uint32_t)nonce;
        memset(a->dedupe, 0, sizeof a->dedupe);
        a->dedupe_next = 0;
        a->newest_seq = (uint16_t)seq;
    }
    uint32_t board_len = 0;
    while (a->cfg.board_id && board_len < FWA_BOARD_ID_MAX && a->cfg.board_id[board_len]) board_len++;
    reply_head(w, FWA_T_HELLO, seq, FWA_OK, 1);
    fwa_mpw_map(w, 8);
    fwa_mpw_uint(w, FWA_H_VERSION);
    fwa_mpw_uint(w, version < FWA_PROTO_VERSION ? version : FWA_PROTO_VERSION);
    fwa_mpw_uint(w, FWA_H_CAPS);
    fwa_mpw_uint(w, a->caps);
    fwa_mpw_uint(w, FWA_H_PES);
    fwa_mpw_uint(w, a->cfg.pe_count);
    fwa_mpw_uint(w, FWA_H_MAX_PAYLOAD);
    fwa_mpw_uint(w, FW_FRAME_MAX_PAYLOAD);
    fwa_mpw_uint(w, FWA_H_BOARD);
    fwa_mpw_bin(w, (const uint8_t *)a->cfg.board_id, board_len);
    fwa_mpw_uint(w, FWA_H_WINDOWS);
    fwa_mpw_array(w, a->cfg.n_windows);
    for (uint32_t i = 0; i < a->cfg.n_windows; i++) {
        fwa_mpw_array(w, 3);
        fwa_mpw_uint(w, a->cfg.windows[i].base);
        fwa_mpw_uint(w, a->cfg.windows[i].size);
        fwa_mpw_uint(w, a->cfg.windows[i].flags);
    }
    fwa_mpw_uint(w, FWA_H_BOOT);
    fwa_mpw_uint(w, a->cfg.boot_count);
    fwa_mpw_uint(w, FWA_H_MAX_DATA);
    fwa_mpw_uint(w, FWA_MAX_DATA);
}

static void do_status(fwa_agent *a, fwa_mpw *w, uint32_t seq) {
    const fwa_platform *p = a->cfg.plat;
    int blob = -1;
    if (p->status_blob) {
        /* the wire buffer is free while a reply is being built */
        uint32_t room = w->cap > w->len + 96 ? w->cap - w->len - 96 : 0;
        if (room > sizeof a->wire) room = sizeof a->wire;
        blob = room ? p->status_blob(p->ctx, a->wire, room) : -1;
        if (blob > (int)room) blob = -1;
    }
    uint32_t watches = 0;
    for (uint32_t i = 0; i < FWA_WATCH_SLOTS; i++) watches += a->watch[i].used;
    reply_head(w, FWA_T_STATUS, seq, FWA_OK, 1);
    fwa_mpw_map(w, blob >= 0 ? 11 : 10);
    fwa_mpw_uint(w, FWA_S_BOOT);
    fwa_mpw_uint(w, a->cfg.boot_count);
    fwa_mpw_uint(w, FWA_S_UPTIME_US);
    fwa_mpw_uint(w, p->time_us ? p->time_us(p->ctx) : 0);
    fwa_mpw_uint(w, FWA_S_RX_FRAMES);
    fwa_mpw_uint(w, a->rx.frames);
    fwa_mpw_uint(w, FWA_S_CRC_ERRORS);
    fwa_mpw_uint(w, a->rx.crc_errors);
    fwa_mpw_uint(w, FWA_S_BAD_FRAMES);
    fwa_mpw_uint(w, (uint64_t)a->rx.cobs_errors + a->rx.short_frames + a->rx.long_frames);
    fwa_mpw_uint(w, FWA_S_BAD_MESSAGES);
    fwa_mpw_uint(w, a->n.bad_messages);
    fwa_mpw_uint(w, FWA_S_DUP_HITS);
    fwa_mpw_uint(w, a->n.dup_hits);
    fwa_mpw_uint(w, FWA_S_NOTIFICATIONS);
    fwa_mpw_uint(w, a->n.notifications);
    fwa_mpw_uint(w, FWA_S_EVENTS);
    fwa_mpw_uint(w, a->n.events);
    fwa_mpw_uint(w, FWA_S_WATCHES);
    fwa_mpw_uint(w, watches);
    if (blob >= 0) {
        fwa_mpw_uint(w, FWA_S_BLOB);
        fwa_mpw_bin(w, a->wire, (uint32_t)blob);
    }
}

static fwa_dedupe_entry *dedupe_find(fwa_agent *a, uint16_t seq) {
    for (uint32_t i = 0; i < FWA_DEDUPE_SLOTS; i++)
        if (a->dedupe[i].used && a->dedupe[i].seq == seq) return &a->dedupe[i];
    return 0;
}

/* Serial-number arithmetic on 16 bits: is `seq` at or before `newest`? */
static int not_newer(uint16_t seq, uint16_t newest) {
    uint16_t d = (uint16_t)(newest - seq);
    return d < 0x8000u;
}

uint32_t fwa_handle(fwa_agent *a, const uint8_t *req, uint32_t n, uint8_t *reply, uint32_t cap) {
    fwa_mpr r;
    fwa_mpr_init(&r, req, n);
    uint32_t count = fwa_mpr_array(&r, 15);
    uint32_t type = (uint32_t)fwa_mpr_uint(&r, FWA_TYPE_MAX);
    uint32_t seq = (uint32_t)fwa_mpr_uint(&r, FWA_SEQ_MAX);
    if (r.err || count < 2) {
        a->n.bad_messages++;
        return 0;
    }
    fwa_mpw w;
    fwa_mpw_init(&w, reply, cap);
    if (type != FWA_T_HELLO && !a->session) {
        reply_head(&w, type, seq, FWA_E_NO_SESSION, 0);
        a->n.replies++;
        return w.err ? 0 : w.len;
    }
    result rs = res(FWA_OK);
    if (has_side_effect(type)) {
        fwa_dedupe_entry *e = dedupe_find(a, (uint16_t)seq);
        if (e) {
            if (e->type != type) {
                rs = res(FWA_E_SEQ);
            } else {
                /* a retry (or a duplicated frame): the remembered answer, nothing re-run */
                a->n.dup_hits++;
                rs.code = e->code;
                rs.nvals = e->nvals;
                rs.v1 = e->v1;
                rs.v2 = e->v2;
            }
            reply_result(&w, type, seq, &rs);
            a->n.replies++;
            return w.err ? 0 : w.len;
        }
        if (not_newer((uint16_t)seq, a->newest_seq)) {
            a->n.stale++;
            rs = res(seq == a->newest_seq ? FWA_E_SEQ : FWA_E_STALE);
            reply_result(&w, type, seq, &rs);
            a->n.replies++;
            return w.err ? 0 : w.len;
        }
    }
    uint32_t nargs = count - 2;
    switch (type) {
    case FWA_T_HELLO:
        if (nargs < 2) reply_head(&w, type, seq, FWA_E_MALFORMED, 0);
        else do_hello(a, &r, &w, seq);
        a->n.replies++;
        return w.err ? 0 : w.len;
    case FWA_T_READ: {
        uint64_t addr = fwa_mpr_uint(&r, UINT64_MAX);
        uint64_t len = fwa_mpr_uint(&r, 0xFFFFFFFFu);
        int32_t code = FWA_OK;
        uint8_t *p = 0;
        if (r.err || nargs < 2) code = FWA_E_MALFORMED;
        else if (len > FWA_MAX_DATA) code = FWA_E_TOO_BIG;
        else if (len && !(p = mem(a, addr, len, FWA_WIN_READ))) code = FWA_E_WINDOW;
        if (code != FWA_OK) {
            reply_head(&w, type, seq, code, 0);
        } else {
            reply_head(&w, type, seq, FWA_OK, 1);
            fwa_mpw_bin(&w, p, (uint32_t)len);
        }
        break;
    }
    case FWA_T_READ_REG: {
        uint64_t addr = fwa_mpr_uint(&r, UINT64_MAX);
        uint64_t width = fwa_mpr_uint(&r, 64);
        uint8_t *p = 0;
        int32_t code = FWA_OK;
        if (r.err || nargs < 2) code = FWA_E_MALFORMED;
        else if (!reg_width_ok(width)) code = FWA_E_INVAL;
        else if (!(p = mem(a, addr, width / 8, FWA_WIN_READ))) code = FWA_E_WINDOW;
        if (code != FWA_OK) {
            reply_head(&w, type, seq, code, 0);
        } else {
            reply_head(&w, type, seq, FWA_OK, 1);
            fwa_mpw_uint(&w, fw_reg_read(p, (unsigned)width));
        }
        break;
    }
    case FWA_T_SDEI_STATE: {
        uint64_t pe = fwa_mpr_uint(&r, 0xFFFFFFFFu);
        uint64_t ev = fwa_mpr_uint(&r, 0xFFFFFFFFu);
        const fwa_platform *p = a->cfg.plat;
        uint32_t st = 0;
        if (r.err || nargs < 2) {
            reply_head(&w, type, seq, FWA_E_MALFORMED, 0);
        } else if (pe >= a->cfg.pe_count) {
            reply_head(&w, type, seq, FWA_E_INVAL, 0);
        } else if (!p->sdei_state) {
            reply_head(&w, type, seq, FWA_E_UNSUPPORTED, 0);
        } else {
            int rc = p->sdei_state(p->ctx, (uint32_t)pe, (uint32_t)ev, &st);
            if (rc != 0) {
                reply_head(&w, type, seq, FWA_E_REFUSED, 1);
                fwa_mpw_int(&w, rc);
            } else {
                reply_head(&w, type, seq, FWA_OK, 1);
                fwa_mpw_uint(&w, st);
            }
        }
        break;
    }
    case FWA_T_STATUS:
        do_status(a, &w, seq);
        break;
    case FWA_T_WRITE:
        rs = nargs < 2 ? res(FWA_E_MALFORMED) : do_write(a, &r);
        break;
    case FWA_T_WRITE_REG:
        rs = nargs < 3 ? res(FWA_E_MALFORMED) : do_write_reg(a, &r);
        break;
    case FWA_T_POST:
        rs = nargs < 6 ? res(FWA_E_MALFORMED) : do_post(a, &r);
        break;
    case FWA_T_POST_DATA:
        rs = nargs < 4 ? res(FWA_E_MALFORMED) : do_post_data(a, &r);
        break;
    case FWA_T_WITHDRAW:
        rs = nargs < 3 ? res(FWA_E_MALFORMED) : do_withdraw(a, &r);
        break;
    case FWA_T_SEI:
    case FWA_T_SEA:
        rs = nargs < 1 ? res(FWA_E_MALFORMED) : do_notify(a, type, &r);
        break;
    case FWA_T_SDEI:
    case FWA_T_IRQ:
        rs = nargs < 2 ? res(FWA_E_MALFORMED) : do_notify(a, type, &r);
        break;
    default:
        reply_head(&w, type, seq, FWA_E_UNKNOWN, 0);
        break;
    }
    if ((uint16_t)(seq - a->newest_seq) < 0x8000u) a->newest_seq = (uint16_t)seq;
    if (has_side_effect(type)) {
        if (rs.code == FWA_E_MALFORMED) a->n.bad_messages++;
        /* Remember the outcome, even a refusal: a retry must get the same answer. A
         * malformed request executed nothing and is not remembered. */
        if (rs.code != FWA_E_MALFORMED) {
            fwa_dedupe_entry *e = &a->dedupe[a->dedupe_next++ % FWA_DEDUPE_SLOTS];
            e->used = 1;
            e->seq = (uint16_t)seq;
            e->type = (uint8_t)type;
            e->code = rs.code;
            e->nvals = rs.nvals;
            e->v1 = rs.v1;
            e->v2 = rs.v2;
        }
        reply_result(&w, type, seq, &rs);
    }
    a->n.replies++;
    return w.err ? 0 : w.len;
}

/* ---- the byte pump -------------------------------------------------------------------------- */
int fwa_rx(fwa_agent *a, const uint8_t *p, uint32_t n) {
    int frames = 0;
    for (uint32_t i = 0; i < n; i++) {
        int k = fw_frame_rx_byte(&a->rx, p[i], a->msg, sizeof a->msg);
        if (k <= 0) continue;
        a->n.rx_frames++;
        frames++;
        uint32_t len = fwa_handle(a, a->msg, (uint32_t)k, a->out, sizeof a->out);
        if (len) send_payload(a, a->out, len);
        /* a notification or a post may have been consumed at once (a fast OS) */
        fwa_check_watches(a);
    }
    return frames;
}

int fwa_poll(fwa_agent *a, uint32_t budget) {
    const fwa_platform *p = a->cfg.plat;
    int frames = 0;
    if (!budget) budget = 4096;
    if (p->uart_getc) {
        for (uint32_t i = 0; i < budget; i++) {
            int c = p->uart_getc(p->ctx);
            if (c < 0) break;
            uint8_t b = (uint8_t)c;
            frames += fwa_rx(a, &b, 1);
        }
    }
    fwa_check_watches(a);
    return frames;
}
