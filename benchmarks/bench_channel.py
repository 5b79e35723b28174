"""Debug-channel speed at 115,200 baud over a pty (protocol/PROTOCOL.md §8).

    python benchmarks/bench_channel.py [--count N] [--json]

A pty moves bytes at memory speed, so the line is paced by fwemu's FaultLink relay at
115,200 baud (10 bits a byte, 11,520 bytes/s each way) with no faults:

    AgentChannel ⇄ /dev/pts/N ⇄ FaultLink(baud=115200) ⇄ socketpair ⇄ C agent (HostAgent)

Reported:
* bytes per notification frame: the SDEI dispatch request as sent (leading delimiter
  included) and the EV_CONSUMED event, with 1- and 3-byte sequence numbers (target ≤ 16);
* round trip of an SDEI dispatch request at 115,200 baud (p50/p99), beside the wire-time
  floor for the same bytes;
* line-rate share when posting 1008-byte blocks through a remote window: record bytes per
  second over 11,520 (target ≥ 85 %), and all wire bytes per second over 11,520;
* end-to-end injections on the sim board: in process (the default `sim` board's fast
  path) vs through the agent process on an unpaced pty (`sim-agent`), same count.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import sys
import threading
import time

from fwemu.board import load_board
from fwemu.channel import AgentChannel
from fwemu.channel import protocol as P
from fwemu.channel.faultlink import FaultLink, pty_pair
from fwemu.channel.hostagent import HostAgent, MemoryPlatform, serve
from fwemu.session import Session

BAUD = 115200
LINE_BPS = BAUD / 10
WINDOWS = [(0x80000000, 0x10000, 3)]


def frame_sizes() -> dict:
    out = {}
    for seq in (5, 300):
        out[f"sdei_request_seq{seq}"] = len(P.encode_frame(P.pack([P.SDEI, seq, 0, 5000])))
        out[f"sdei_reply_seq{seq}"] = len(P.encode_frame(P.pack([P.SDEI, seq, 0]), lead=False))
        out[f"ev_consumed_seq{seq}"] = len(P.encode_frame(P.pack([P.EV_CONSUMED, seq, 5, 1]), lead=False))
    out["max_notification_frame"] = max(v for k, v in out.items() if "request" in k or "ev_" in k)
    return out


class PacedRig:
    def __init__(self):
        self.plat = MemoryPlatform(WINDOWS)
        self.agent = HostAgent(self.plat, "bench", 4, WINDOWS)
        self.sa, self.sb = socket.socketpair()
        self.stop = threading.Event()
        self.t = threading.Thread(target=serve, args=(self.agent, self.sb.fileno(), self.sb.fileno(),
                                                      self.stop), daemon=True)
        self.t.start()
        self.master, self.path, self.slave = pty_pair()
        self.link = FaultLink(self.master, self.sa.fileno(), baud=BAUD)
        self.ch = AgentChannel(self.path, baudrate=BAUD)
        self.ch.hello()

    def close(self):
        self.ch.close()
        self.stop.set()
        self.t.join(2)
        self.link.close()
        os.close(self.master)
        os.close(self.slave)
        self.sa.close()
        self.sb.close()


def round_trip(rig: PacedRig, n: int) -> dict:
    rtts = []
    for _ in range(n):
        t0 = time.perf_counter()
        rig.ch.call(P.SDEI, 0, 5000)
        rtts.append(time.perf_counter() - t0)
    rtts.sort()
    req = len(P.encode_frame(P.pack([P.SDEI, 300, 0, 5000])))
    rep = len(P.encode_frame(P.pack([P.SDEI, 300, 0]), lead=False))
    return {"count": n, "p50_ms": rtts[n // 2] * 1e3, "p99_ms": rtts[int(n * 0.99)] * 1e3,
            "mean_ms": statistics.fmean(rtts) * 1e3, "wire_floor_ms": (req + rep) / LINE_BPS * 1e3}


def post_rate(rig: PacedRig, n: int, size: int = 1008) -> dict:
    rec = (0x11).to_bytes(4, "little") + bytes(16) + os.urandom(size - 20)
    ack = [0x80000000, 64, 0, 0xFFFFFFFFFFFFFFFE, 1]
    out0, in0 = rig.ch.transport.bytes_out, rig.ch.transport.bytes_in
    t0 = time.perf_counter()
    for _ in range(n):
        rig.ch.call(P.POST, 1, 0x80000010, 0x3F0, rec, 1, ack)   # FORCE: re-post the same block
    dt = time.perf_counter() - t0
    wire_out = rig.ch.transport.bytes_out - out0
    assert rig.plat.read(0x80000010, size) == rec
    return {"blocks": n, "record_bytes": size, "seconds": dt,
            "record_share": n * size / dt / LINE_BPS, "wire_share_host_to_agent": wire_out / dt / LINE_BPS,
            "wire_bytes_per_block": wire_out / n, "wire_bytes_in": rig.ch.transport.bytes_in - in0}


def injections(count: int) -> dict:
    out = {}
    for name in ("sim", "sim-agent"):
        with Session.open(load_board(name), journal="none") as s:
            s.inject({"scenario": "memory-ue", "count": 5})
            t0 = time.perf_counter()
            r = s.inject({"scenario": "memory-ue", "count": count, "report": "summary"})
            dt = time.perf_counter() - t0
            out[name] = {"per_s": count / dt, "p50_ms": r["summary"]["p50_ms"],
                         "states": r["summary"]["states"]}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200, help="round trips (posts: count/10)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    # repeated identical records are the point of a rate test: keep the firmware's warnings out
    logging.getLogger("fwemu").setLevel(logging.ERROR)
    res = {"baud": BAUD, "frames": frame_sizes()}
    rig = PacedRig()
    try:
        res["round_trip"] = round_trip(rig, args.count)
        res["post"] = post_rate(rig, max(5, args.count // 10))
    finally:
        rig.close()
    res["injections_unpaced"] = injections(max(50, args.count))
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    f, rt, po = res["frames"], res["round_trip"], res["post"]
    print(f"bytes per notification frame (≤ 16): SDEI request {f['sdei_request_seq5']} (seq < 128) / "
          f"{f['sdei_request_seq300']} (seq ≥ 256), EV_CONSUMED {f['ev_consumed_seq5']} / "
          f"{f['ev_consumed_seq300']}, SDEI reply {f['sdei_reply_seq300']}")
    print(f"SDEI round trip at {BAUD} baud over a pty: p50 {rt['p50_ms']:.2f} ms, p99 {rt['p99_ms']:.2f} ms "
          f"(wire floor {rt['wire_floor_ms']:.2f} ms)")
    print(f"posting {po['record_bytes']}-byte blocks: {po['record_share'] * 100:.1f} % of line rate as record "
          f"bytes (≥ 85 %), {po['wire_share_host_to_agent'] * 100:.1f} % as wire bytes; "
          f"{po['wire_bytes_per_block']:.0f} wire bytes per block")
    for name, r in res["injections_unpaced"].items():
        print(f"injections, {name:9s} (unpaced): {r['per_s']:8.0f}/s, p50 latency {r['p50_ms']:.3f} ms, "
              f"{r['states']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
