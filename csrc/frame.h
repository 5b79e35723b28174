/*
 * Debug-channel framing (protocol/PROTOCOL.md §2), shared by the host (via cffi) and the
 * target agent. Freestanding: no libc beyond memcpy/memset, no heap, caller buffers.
 *
 * On the wire a frame is   [0x00]  COBS( payload || CRC-32(payload) little endian )  0x00
 *
 * payload: one msgpack message, 1 .. FW_FRAME_MAX_PAYLOAD bytes. CRC-32 is the IEEE/zlib
 * polynomial (reflected 0xEDB88320, init and final xor 0xFFFFFFFF), so Python's
 * zlib.crc32() checks it. COBS removes every 0x00 from the body, so 0x00 only ever means
 * "frame boundary": a receiver that lost sync drops bytes until the next 0x00 and is in
 * step again. The leading 0x00 is optional (the host sends it to flush line noise).
 */
#ifndef FWEMU_FRAME_H
#define FWEMU_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FW_FRAME_MAX_PAYLOAD 1280u /* msgpack bytes in one frame */
#define FW_FRAME_CRC_LEN 4u
/* COBS adds one byte per started 254-byte run (and one for an empty input). */
#define FW_COBS_MAX(n) ((n) + (n) / 254u + 1u)
#define FW_FRAME_MAX_ENCODED FW_COBS_MAX(FW_FRAME_MAX_PAYLOAD + FW_FRAME_CRC_LEN)
#define FW_FRAME_MAX_WIRE (FW_FRAME_MAX_ENCODED + 2u) /* + leading and trailing 0x00 */

#define FW_FRAME_LEAD 0x1u /* fw_frame_encode: start with a 0x00 too */

/* Error codes (negative), shared with cper.h's FW_E_* space. */
#define FW_E_FRAME_CRC (-20)
#define FW_E_FRAME_COBS (-21)
#define FW_E_FRAME_SHORT (-22)
#define FW_E_FRAME_LONG (-23)

/* CRC-32 (IEEE, zlib-compatible). Chain calls with the previous result; start with 0. */
uint32_t fw_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* COBS. Return the output length, or FW_E_NOSPACE / FW_E_FRAME_COBS. The encoder never
 * writes a 0x00; the decoder rejects any 0x00 in its input and truncated code blocks. */
int fw_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);
int fw_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* One whole frame from a payload (1 .. FW_FRAME_MAX_PAYLOAD bytes). Returns the number of
 * wire bytes written, or FW_E_INVAL / FW_E_NOSPACE. */
int fw_frame_encode(const uint8_t *payload, size_t n, uint8_t *out, size_t cap, unsigned flags);

/* Decodes the bytes between two delimiters (no 0x00 inside) into payload; returns the
 * payload length or FW_E_FRAME_* / FW_E_NOSPACE. */
int fw_frame_decode(const uint8_t *enc, size_t n, uint8_t *payload, size_t cap);

/* Incremental receiver. Bytes accumulate until a 0x00; then the frame is decoded and
 * checked. Bad frames are counted and dropped; a run longer than any valid frame is
 * dropped up to the next 0x00 (resynchronisation). */
typedef struct {
    uint8_t buf[FW_FRAME_MAX_ENCODED];
    uint32_t len;
    uint8_t overflow; /* dropping until the next 0x00 */
    uint32_t frames;  /* good frames delivered */
    uint32_t crc_errors, cobs_errors, short_frames, long_frames;
} fw_frame_rx;

void fw_frame_rx_init(fw_frame_rx *rx);

/* Feeds one byte. Returns the payload length (> 0) when this byte completes a good frame
 * (the payload is copied to out), 0 otherwise. `cap` must be >= FW_FRAME_MAX_PAYLOAD for
 * every good frame to be delivered (a shorter cap counts it as long). */
int fw_frame_rx_byte(fw_frame_rx *rx, uint8_t b, uint8_t *out, size_t cap);

/* Feeds up to n bytes and stops right after the first good frame. *consumed says how many
 * bytes were used (feed the rest in the next call). Returns the payload length or 0. */
int fw_frame_rx_feed(fw_frame_rx *rx, const uint8_t *in, size_t n, size_t *consumed, uint8_t *out,
                     size_t cap);

#endif
