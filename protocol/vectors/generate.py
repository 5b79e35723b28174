#!/usr/bin/env python3
"""Writes the golden vectors in this directory from the protocol text (PROTOCOL.md), with
nothing but the standard library and msgpack: its own COBS, zlib's CRC-32, and replies
spelled out by hand. The C agent and the Python channel are both tested against the
output; neither is used to make it.

    python protocol/vectors/generate.py          # rewrite frames.json, agent_session.json
    python protocol/vectors/generate.py --check  # exit 1 if the files are not up to date

agent_session.json is one JSON object per step, one step per line, so the C test can read
it with a line scanner. Each step: bytes to feed the agent (`send_hex`), the exact bytes
it must answer (`expect_hex`), an optional store by the "OS" before the step
(`os_write`: "addr:width:value" in hex), whether to call fwa_start (`start`) or the watch
check (`poll`), and the fake platform's hook counts after the step (`n_sdei`, `n_sei`,
`n_irq`). `request` / `reply` give the decoded meaning.
"""

from __future__ import annotations

import json
import os
import sys
import zlib

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))

# protocol constants (PROTOCOL.md §4; csrc/agent/proto.h)
HELLO, READ, WRITE, READ_REG, WRITE_REG, POST, POST_DATA, WITHDRAW = range(1, 9)
SEI, SDEI, IRQ, SEA, SDEI_STATE, STATUS = range(9, 15)
EV_CONSUMED, EV_LOG, EV_BOOT = 0x41, 0x42, 0x43
OK, E_MALFORMED, E_UNKNOWN, E_NO_SESSION, E_VERSION, E_WINDOW, E_BUSY, E_TOO_BIG = range(8)
E_REFUSED, E_UNSUPPORTED, E_INVAL, E_SEQ, E_STALE = range(8, 13)
MAX_PAYLOAD, MAX_DATA = 1280, 1024

# The fake platform the C test (csrc/tests/test_agent.c) and the Python test share.
FIXTURE = {
    "board_id": "fwemu-test",
    "pe_count": 4,
    "boot_count": 7,
    "windows": [[0x80000000, 0x1000, 3], [0x80010000, 0x100, 1]],
    "memory": "zero-filled at start",
    "sdei": "events 5000 (normal) and 5003 (critical) explicit, registered and enabled on "
            "every PE; PE 3 masked; a dispatch completes at once",
    "sei": "accepted on every PE", "irq": "accepted for INTID < 1020", "sea": "no hook",
    "time_us": 123456, "status_blob": "no hook",
    "caps": 0x01 | 0x02 | 0x04 | 0x10 | 0x20,
}


def cobs(data: bytes) -> bytes:
    out, block = bytearray(), bytearray()
    for i, b in enumerate(data):
        if b == 0:
            out += bytes([len(block) + 1]) + block
            block.clear()
            continue
        block.append(b)
        if len(block) == 254:
            out += b"\xff" + block
            block.clear()
            if i + 1 == len(data):
                return bytes(out)   # a full run ends the input: no empty block after it
    out += bytes([len(block) + 1]) + block
    return bytes(out)


def frame(payload: bytes, lead: bool = False) -> bytes:
    body = payload + zlib.crc32(payload).to_bytes(4, "little")
    return (b"\x00" if lead else b"") + cobs(body) + b"\x00"


def pack(obj) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def frames_file() -> dict:
    cases = []

    def good(name, payload: bytes, lead=False):
        cases.append({"name": name, "payload_hex": payload.hex(), "wire_hex": frame(payload, lead).hex(),
                      "lead": lead})

    good("one byte", b"\x01")
    good("zeros", b"\x00\x00\x00")
    good("hello request", pack([HELLO, 1, 1, 0x12345678]), lead=True)
    good("254 non-zero bytes (one full COBS run)", bytes(range(1, 255)))
    good("255 non-zero bytes (a run split in two)", bytes((i % 255) + 1 for i in range(255)))
    good("max payload, every byte value", bytes(i & 0xFF for i in range(MAX_PAYLOAD)))
    sdei = pack([SDEI, 300, 0, 5000])
    good("SDEI dispatch request (a notification frame)", sdei, lead=True)
    good("EV_CONSUMED event", pack([EV_CONSUMED, 200, 5, 1]))
    bad = []
    f = bytearray(frame(pack([SDEI, 300, 0, 5000])))
    f[3] ^= 0x40
    bad.append({"name": "one bit flipped: CRC mismatch", "wire_hex": bytes(f).hex(), "error": "crc"})
    bad.append({"name": "COBS code runs past the delimiter", "wire_hex": "0511223300", "error": "cobs"})
    bad.append({"name": "two bytes: shorter than payload + CRC", "wire_hex": "03010100", "error": "short"})
    over = cobs(bytes(range(1, 256)) * 6)   # 1530 bytes with no zero: longer than any frame
    bad.append({"name": "longer than any frame (dropped to the next delimiter)",
                "wire_hex": (over + b"\x00").hex(), "error": "long"})
    return {"about": "COBS(payload || CRC-32 LE) + 0x00; 'lead' frames start with 0x00 too "
                     "(PROTOCOL.md §2). Bad frames must be dropped with the given counter.",
            "max_payload": MAX_PAYLOAD, "good": cases, "bad": bad}


class Session:
    def __init__(self):
        self.steps = []
        self.n = {"sdei": 0, "sei": 0, "irq": 0}
        self.rx_frames = 0
        self.crc_errors = 0
        self.bad_frames = 0
        self.bad_messages = 0
        self.dup_hits = 0
        self.notifications = 0
        self.events = 0
        self.ev_seq = 0

    def step(self, name, request=None, reply=None, *, send: bytes | None = None, expect: bytes = b"",
             os_write="", poll=False, start=False, lead=True, good_frame=True):
        if send is None:
            send = frame(pack(request), lead) if request is not None else b""
        if request is not None and good_frame:
            self.rx_frames += 1
        if reply is not None:
            expect = frame(pack(reply))
        self.steps.append({
            "step": len(self.steps), "name": name,
            "request": request, "reply": reply,
            "send_hex": send.hex(), "expect_hex": expect.hex(),
            "os_write": os_write, "poll": poll, "start": start,
            "n_sdei": self.n["sdei"], "n_sei": self.n["sei"], "n_irq": self.n["irq"],
        })

    def event(self, *args):
        ev = [args[0], self.ev_seq, *args[1:]]
        self.ev_seq += 1
        self.events += 1
        return ev


def session_file() -> dict:
    s = Session()
    s.step("agent starts: EV_BOOT [type, event seq, boot_count, version]", start=True,
           expect=frame(pack(s.event(EV_BOOT, 7, 1))))
    s.step("READ before any HELLO: refused, nothing executed",
           [READ, 1, 0x80000000, 4], [READ, 1, E_NO_SESSION])
    s.step("HELLO v1 with a nonce",
           [HELLO, 1, 1, 0x12345678],
           [HELLO, 1, OK, {1: 1, 2: FIXTURE["caps"], 3: 4, 4: MAX_PAYLOAD, 5: b"fwemu-test",
                                  6: FIXTURE["windows"], 7: 7, 8: MAX_DATA}])
    s.step("HELLO with version 0: no common version",
           [HELLO, 2, 0, 0x1], [HELLO, 2, E_VERSION, {1: 1}])
    s.step("WRITE 4 bytes", [WRITE, 3, 0x80000100, b"abcd"], [WRITE, 3, OK])
    s.step("READ them back", [READ, 4, 0x80000100, 4], [READ, 4, OK, b"abcd"])
    s.step("WRITE across the end of a window: refused",
           [WRITE, 5, 0x80000FFE, b"wxyz"], [WRITE, 5, E_WINDOW])
    s.step("WRITE into a read-only window: refused",
           [WRITE, 6, 0x80010000, b"\x01"], [WRITE, 6, E_WINDOW])
    s.step("READ from the read-only window", [READ, 7, 0x80010000, 2], [READ, 7, OK, b"\0\0"])
    s.step("WRITE_REG: the Error Status Address register (64-bit) = block address",
           [WRITE_REG, 8, 0x80000008, 64, 0x80000010], [WRITE_REG, 8, OK])
    s.step("READ_REG it", [READ_REG, 9, 0x80000008, 64], [READ_REG, 9, OK, 0x80000010])
    s.step("READ_REG with width 12: invalid", [READ_REG, 10, 0x80000008, 12], [READ_REG, 10, E_INVAL])
    record = (0x11).to_bytes(4, "little") + bytes(8) + (12).to_bytes(4, "little") + bytes(4) + b"RECORD-BYTES"
    ack = [0x80000000, 64, 0, 0xFFFFFFFFFFFFFFFE, 1]
    s.step("POST slot 5 (Read Ack in its acked state, 1, as firmware leaves it at boot): re-arm "
           "Read Ack, ordered commit, watch the block (reply: watched=1)",
           [POST, 11, 5, 0x80000010, 0x3F0, record, 0, ack], [POST, 11, OK, 1], os_write="80000000:40:1")
    s.step("READ the block: the record is there, block_status last",
           [READ, 12, 0x80000010, len(record)], [READ, 12, OK, record])
    s.step("READ_REG the Read Ack register: armed (0)", [READ_REG, 13, 0x80000000, 64],
           [READ_REG, 13, OK, 0])
    s.step("POST over the pending block: busy; block_status and acked (0) returned",
           [POST, 14, 5, 0x80000010, 0x3F0, record, 0, ack], [POST, 14, E_BUSY, 0x11, 0])
    s.n["sdei"] += 1
    s.notifications += 1
    sdei = [SDEI, 15, 0, 5000]
    s.step("SDEI dispatch event 5000 on PE 0", sdei, [SDEI, 15, OK])
    s.dup_hits += 1
    s.step("the same request again (a retry): remembered answer, no second dispatch",
           sdei, [SDEI, 15, OK])
    s.step("SDEI on PE 3 (masked): TF-A's -1, reason 1 (D1 masked)",
           [SDEI, 16, 3, 5000], [SDEI, 16, E_REFUSED, -1, 1])
    s.step("SDEI event 0: -1, reason 2 (D2)", [SDEI, 17, 0, 0], [SDEI, 17, E_REFUSED, -1, 2])
    s.step("SDEI event 1234: -1, reason 3 (D3 no explicit mapping)",
           [SDEI, 18, 0, 1234], [SDEI, 18, E_REFUSED, -1, 3])
    s.n["sei"] += 1
    s.notifications += 1
    s.step("SEI on PE 1", [SEI, 19, 1], [SEI, 19, OK])
    s.step("SEA: the platform has no hook", [SEA, 20, 0], [SEA, 20, E_UNSUPPORTED])
    s.n["irq"] += 1
    s.notifications += 1
    s.step("pend INTID 64 on PE 0", [IRQ, 21, 0, 64], [IRQ, 21, OK])
    s.step("pend INTID 2000: the platform refuses (-1)", [IRQ, 22, 0, 2000], [IRQ, 22, E_REFUSED, -1])
    s.step("SDEI_STATE of 5003 on PE 0: registered|enabled|critical",
           [SDEI_STATE, 23, 0, 5003], [SDEI_STATE, 23, OK, 0x13])
    s.step("SDEI_STATE of 5000 on PE 3: registered|enabled|PE masked",
           [SDEI_STATE, 24, 3, 5000], [SDEI_STATE, 24, OK, 0x0B])
    s.step("SEI on PE 9: no such PE", [SEI, 25, 9], [SEI, 25, E_INVAL])
    s.step("the OS acks (writes Read Ack bit 0); the watch reports EV_CONSUMED [slot 5, how 1]",
           os_write="80000000:40:1", poll=True, expect=frame(pack(s.event(EV_CONSUMED, 5, 1))))
    s.step("a second watch check sends nothing", poll=True)
    s.step("POST slot 7 without Read Ack (GHES v1)",
           [POST, 26, 7, 0x80000400, 0x100, record, 0, None], [POST, 26, OK, 1])
    s.step("WITHDRAW slot 7: block_status 0 again (reply: what it was)",
           [WITHDRAW, 27, 7, 0x80000400, None], [WITHDRAW, 27, OK, 0x11])
    s.step("a watch check after the withdraw sends nothing", poll=True)
    s.step("POST_DATA into the free block at offset 32", [POST_DATA, 28, 0x80000400, 0x100, 32, b"tail"],
           [POST_DATA, 28, OK])
    s.step("POST_DATA at offset 8 (inside the header): invalid",
           [POST_DATA, 29, 0x80000400, 0x100, 8, b"x"], [POST_DATA, 29, E_INVAL])
    s.step("WRITE with seq 4 (a READ's, older than the newest): stale, not executed",
           [WRITE, 4, 0x80000100, b"ZZZZ"], [WRITE, 4, E_STALE])
    s.step("SEI reusing SDEI's seq 15: refused as a sequence error",
           [SEI, 15, 0], [SEI, 15, E_SEQ])
    s.step("unknown request type 0x3F", [0x3F, 30], [0x3F, 30, E_UNKNOWN])
    s.bad_messages += 1
    s.step("WRITE whose address is bytes: malformed", [WRITE, 31, b"addr", b"x"], [WRITE, 31, E_MALFORMED])
    s.bad_messages += 1
    s.rx_frames += 1
    s.step("a good frame that is not msgpack [type, seq]: no reply", send=frame(b"\xc1", True))
    s.bad_frames += 1
    s.step("line noise (a COBS block cut short by 0x00): dropped", send=bytes.fromhex("0511223300"))
    bad = bytearray(frame(pack([SEI, 32, 0])))
    bad[2] ^= 0x01
    s.crc_errors += 1
    s.step("a frame with one bit flipped: dropped (CRC)", send=bytes(bad), good_frame=False,
           request=[SEI, 32, 0])
    s.n["sei"] += 1
    s.notifications += 1
    s.step("the retry of that SEI, intact: executed once", [SEI, 32, 0], [SEI, 32, OK])
    s.step("HELLO again with the same nonce (a late duplicate): answered, memory kept",
           [HELLO, 1, 1, 0x12345678],
           [HELLO, 1, OK, {1: 1, 2: FIXTURE["caps"], 3: 4, 4: MAX_PAYLOAD, 5: b"fwemu-test",
                                  6: FIXTURE["windows"], 7: 7, 8: MAX_DATA}])
    s.dup_hits += 1
    s.step("the SDEI request again after it: still not re-executed", sdei, [SDEI, 15, OK])
    s.rx_frames += 1   # the STATUS request itself
    status = {1: 7, 2: 123456, 3: s.rx_frames, 4: s.crc_errors, 5: s.bad_frames,
              6: s.bad_messages, 7: s.dup_hits, 8: s.notifications, 9: s.events, 10: 0}
    s.rx_frames -= 1
    s.step("STATUS: counters", [STATUS, 33], [STATUS, 33, OK, status])
    return {"about": "An agent session replayed by csrc/tests/test_agent.c and tests/unit/test_c_agent.py "
            "against the fake platform in 'fixture' (PROTOCOL.md §9).",
            "fixture": FIXTURE, "steps": s.steps}


def dump_lines(doc: dict) -> str:
    """Top-level scalars first, then every list of objects with one object per line."""
    parts = []
    for k, v in doc.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            rows = ",\n".join(json.dumps(x, default=_jsonable) for x in v)
            parts.append(f'"{k}": [\n{rows}\n]')
        else:
            parts.append(f'"{k}": {json.dumps(v, default=_jsonable)}')
    text = "{\n" + ",\n".join(parts) + "\n}\n"
    json.loads(text)
    return text


def _jsonable(o):
    if isinstance(o, bytes):
        return {"bin": o.hex()}
    raise TypeError(type(o))


def _clean(o):
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_clean(v) for v in o]
    if isinstance(o, bytes):
        return {"bin": o.hex()}
    return o


def main() -> int:
    outputs = {
        "frames.json": dump_lines(frames_file()),
        "agent_session.json": dump_lines(_clean(session_file())),
    }
    check = "--check" in sys.argv
    stale = []
    for name, text in outputs.items():
        path = os.path.join(HERE, name)
        if check:
            with open(path) as f:
                if f.read() != text:
                    stale.append(name)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("out of date:", ", ".join(stale), "(run protocol/vectors/generate.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
