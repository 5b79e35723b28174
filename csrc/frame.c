/*
 * Debug-channel framing: CRC-32, COBS, whole frames and the incremental receiver (frame.h).
 */
#include "frame.h"

#include <string.h>

#include "cper.h"

/* CRC-32 with a 16-entry nibble table: 64 bytes of rodata instead of a 1 KiB byte table,
 * two lookups a byte. At 115,200 baud the link, not the CRC, is the bottleneck. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t fw_crc32(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 0xFu];
        crc = (crc >> 4) ^ crc_nibble[crc & 0xFu];
    }
    return ~crc;
}

int fw_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    if ((!in && n) || !out) return FW_E_INVAL;
    if (cap < 1) return FW_E_NOSPACE;
    size_t o = 1, code_at = 0;
    uint8_t code = 1;
    for (size_t i = 0; i < n; i++) {
        if (in[i] != 0) {
            if (o >= cap) return FW_E_NOSPACE;
            out[o++] = in[i];
            if (++code != 0xFF) continue;
            if (i + 1 == n) break; /* a full run ends the input: no empty block after it */
        }
        /* a zero, or a full 254-byte run: close the block, open the next */
        out[code_at] = code;
        code = 1;
        if (o >= cap) return FW_E_NOSPACE;
        code_at = o++;
    }
    out[code_at] = code;
    return (int)o;
}

int fw_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    if ((!in && n) || (!out && cap)) return FW_E_INVAL;
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t code = in[i++];
        if (code == 0) return FW_E_FRAME_COBS;
        for (uint8_t k = 1; k < code; k++) {
            if (i >= n) return FW_E_FRAME_COBS;
            if (in[i] == 0) return FW_E_FRAME_COBS;
            if (o >= cap) return FW_E_NOSPACE;
            out[o++] = in[i++];
        }
        if (code != 0xFF && i < n) {
            if (o >= cap) return FW_E_NOSPACE;
            out[o++] = 0;
        }
    }
    return (int)o;
}

static void put_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

int fw_frame_encode(const uint8_t *payload, size_t n, uint8_t *out, size_t cap, unsigned flags) {
    uint8_t raw[FW_FRAME_MAX_PAYLOAD + FW_FRAME_CRC_LEN];
    if (!payload || !out || n == 0 || n > FW_FRAME_MAX_PAYLOAD) return FW_E_INVAL;
    memcpy(raw, payload, n);
    put_le32(raw + n, fw_crc32(0, payload, n));
    size_t o = 0;
    if (flags & FW_FRAME_LEAD) {
        if (cap < 1) return FW_E_NOSPACE;
        out[o++] = 0;
    }
    int k = fw_cobs_encode(raw, n + FW_FRAME_CRC_LEN, out + o, cap - o);
    if (k < 0) return k;
    o += (size_t)k;
    if (o >= cap) return FW_E_NOSPACE;
    out[o++] = 0;
    return (int)o;
}

int fw_frame_decode(const uint8_t *enc, size_t n, uint8_t *payload, size_t cap) {
    uint8_t raw[FW_FRAME_MAX_PAYLOAD + FW_FRAME_CRC_LEN];
    if (!enc || !payload) return FW_E_INVAL;
    if (n > FW_FRAME_MAX_ENCODED) return FW_E_FRAME_LONG;
    int k = fw_cobs_decode(enc, n, raw, sizeof raw);
    if (k == FW_E_NOSPACE) return FW_E_FRAME_LONG;
    if (k < 0) return k;
    if ((size_t)k < 1 + FW_FRAME_CRC_LEN) return FW_E_FRAME_SHORT;
    size_t len = (size_t)k - FW_FRAME_CRC_LEN;
    uint32_t want = (uint32_t)raw[len] | (uint32_t)raw[len + 1] << 8 |
                    (uint32_t)raw[len + 2] << 16 | (uint32_t)raw[len + 3] << 24;
    if (fw_crc32(0, raw, len) != want) return FW_E_FRAME_CRC;
    if (len > cap) return FW_E_NOSPACE;
    memcpy(payload, raw, len);
    return (int)len;
}

void fw_frame_rx_init(fw_frame_rx *rx) { memset(rx, 0, sizeof *rx); }

int fw_frame_rx_byte(fw_frame_rx *rx, uint8_t b, uint8_t *out, size_t cap) {
    if (b != 0) {
        if (rx->overflow) return 0;
        if (rx->len >= sizeof rx->buf) {
            rx->overflow = 1;
            rx->long_frames++;
            return 0;
        }
        rx->buf[rx->len++] = b;
        return 0;
    }
    /* delimiter */
    uint32_t len = rx->len;
    uint8_t over = rx->overflow;
    rx->len = 0;
    rx->overflow = 0;
    if (over || len == 0) return 0; /* dropped run, or an idle / leading delimiter */
    int k = fw_frame_decode(rx->buf, len, out, cap);
    if (k > 0) {
        rx->frames++;
        return k;
    }
    switch (k) {
    case FW_E_FRAME_CRC: rx->crc_errors++; break;
    case FW_E_FRAME_SHORT: rx->short_frames++; break;
    case FW_E_FRAME_LONG:
    case FW_E_NOSPACE: rx->long_frames++; break;
    default: rx->cobs_errors++; break;
    }
    return 0;
}

int fw_frame_rx_feed(fw_frame_rx *rx, const uint8_t *in, size_t n, size_t *consumed, uint8_t *out,
                     size_t cap) {
    size_t i = 0;
    int k = 0;
    while (i < n) {
        k = fw_frame_rx_byte(rx, in[i++], out, cap);
        if (k > 0) break;
    }
    if (consumed) *consumed = i;
    return k > 0 ? k : 0;
}
