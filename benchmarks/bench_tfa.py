"""fwemu driving real firmware: TF-A's BL31 with the fwemu agent under QEMU, Debian's kernel
consuming SDEI-notified GHES records (the tfa-qemu board, docs/tfa-qemu.md).

    python benchmarks/bench_tfa.py [--count N] [--json]

Boots its own machine (a private run directory and loopback port) and reports:
* boot: QEMU start -> the guest's ready marker; then -> the agent's HELLO answered;
* inject -> consumed, per injection (memory-ce on SDEI event 5000, normal priority): from
  the firmware model accepting the injection to fwemu observing Read Ack (record built,
  POST over the secure UART, the SDEI request, which TF-A answers after Linux's handler has
  read the block, written Read Ack and completed the event, and fwemu's read of Read Ack),
  and posted -> consumed, both from the injection's own timestamps; median and p90 over N;
  beside them the whole request's wall time, which also waits for the console to be quiet
  for 0.3 s before it collects the kernel's lines;
  - on the unpaced link: QEMU's chardev moves the PL011's bytes as fast as the emulation
    runs (QEMU does not model a baud rate);
  - at 115,200 baud: the same, with fwemu's FaultLink relay pacing both directions at
    11,520 bytes/s between fwemu and QEMU's socket, as a real UART would;
* injections/s sustained: N back-to-back injections in one request (count=N), unpaced.
Baselines in the same run: the agent's STATUS round trip (a request with no side effect)
on each link.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time

BAUD = 115200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(vals, p):
    v = sorted(vals)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def session_for(board, target):
    from fwemu.firmware import FirmwareModel
    from fwemu.journal import Journal
    from fwemu.session import Session

    j = Journal(None)
    return Session(board, target, FirmwareModel(board, target, j), j)


def run_series(board, target, count: int) -> dict:
    sess = session_for(board, target)
    wall, accepted_consumed, posted_consumed, states = [], [], [], {}
    for _ in range(count):
        t0 = time.monotonic()
        res = sess.inject({"scenario": "memory-ce", "source": 0, "timeout": 10.0})
        dt = time.monotonic() - t0
        inj = res["injections"][0]
        states[inj["state"]] = states.get(inj["state"], 0) + 1
        if inj["state"] == "consumed":
            wall.append(dt * 1e3)
            accepted_consumed.append((inj["consumed"] - inj["accepted"]) * 1e3)
            posted_consumed.append((inj["consumed"] - inj["posted"]) * 1e3)
    rtt = []
    for _ in range(20):
        t0 = time.monotonic()
        target.channel.status()
        rtt.append((time.monotonic() - t0) * 1e3)
    return {"count": count, "states": states,
            "inject_consumed_ms": {"median": statistics.median(accepted_consumed),
                                   "p90": pct(accepted_consumed, 90), "min": min(accepted_consumed),
                                   "max": max(accepted_consumed)} if wall else None,
            "request_wall_ms": {"median": statistics.median(wall), "p90": pct(wall, 90)} if wall else None,
            "posted_consumed_ms": {"median": statistics.median(posted_consumed),
                                   "p90": pct(posted_consumed, 90)} if posted_consumed else None,
            "status_rtt_ms": {"median": statistics.median(rtt), "p90": pct(rtt, 90)}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from fwemu.channel.faultlink import FaultLink, pty_pair
    from fwemu.targets.agent import AgentTarget
    from fwemu.tfa.guest import TfaGuest, firmware_info, missing_prerequisites, private_board

    missing = missing_prerequisites()
    if missing:
        print("bench_tfa: cannot run: " + "; ".join(missing), file=sys.stderr)
        return 5
    run = tempfile.mkdtemp(prefix="fwemu-bench-tfa-")
    port = free_port()
    board = private_board(run, port)
    guest = TfaGuest(board)
    out: dict = {"firmware": firmware_info()}
    try:
        info = guest.start(timeout=240)
        out["boot_to_ready_s"] = info["boot_s"]
        t0 = time.monotonic()
        target = AgentTarget(board)
        out["ready_to_hello_s"] = round(time.monotonic() - t0, 3)
        out["unpaced"] = run_series(board, target, args.count)
        t0 = time.monotonic()
        res = session_for(board, target).inject({"scenario": "memory-ce", "source": 0, "count": args.count,
                                                 "timeout": 10.0, "report": "summary"})
        dt = time.monotonic() - t0
        ok = res.get("summary", {}).get("states", {}).get("consumed", 0) if isinstance(res.get("summary"), dict) else None
        out["sustained"] = {"count": args.count, "seconds": round(dt, 3),
                            "injections_per_s": round(args.count / dt, 1), "consumed": ok}
        target.close()

        # the same series through a 115,200-baud relay: fwemu <-> pty <-> FaultLink <-> QEMU
        sock = socket.create_connection(("127.0.0.1", port))
        master, path, slave = pty_pair()
        link = FaultLink(master, sock.fileno(), baud=BAUD)
        try:
            paced = AgentTarget(board, url=path, baudrate=BAUD)
            out["paced_115200"] = run_series(board, paced, max(20, args.count // 2))
            paced.close()
        finally:
            link.close()
            sock.close()
            for fd in (master, slave):
                os.close(fd)
    finally:
        guest.stop()

    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    fw = out["firmware"]
    print(f"tfa-qemu: TF-A {fw.get('tf_a')} + fwemu agent, edk2 {fw.get('edk2')}")
    print(f"boot to ready {out['boot_to_ready_s']:.2f} s; ready -> agent HELLO {out['ready_to_hello_s']:.3f} s")
    for key, label in (("unpaced", "unpaced QEMU link"), ("paced_115200", "115,200 baud")):
        r = out[key]
        ic, pc, rt = r["inject_consumed_ms"], r["posted_consumed_ms"], r["status_rtt_ms"]
        print(f"{label} ({r['count']} x memory-ce on SDEI 5000, states {r['states']}):")
        if ic:
            print(f"  inject -> consumed   median {ic['median']:.2f} ms  p90 {ic['p90']:.2f} ms  "
                  f"(min {ic['min']:.2f}, max {ic['max']:.2f})")
            print(f"  posted -> consumed   median {pc['median']:.2f} ms  p90 {pc['p90']:.2f} ms")
            rw = r["request_wall_ms"]
            print(f"  whole request        median {rw['median']:.2f} ms  p90 {rw['p90']:.2f} ms "
                  "(+ waiting for the console to go quiet for the OS log)")
        print(f"  baseline STATUS RTT  median {rt['median']:.2f} ms  p90 {rt['p90']:.2f} ms")
    s = out["sustained"]
    print(f"sustained: {s['count']} injections in {s['seconds']:.2f} s = {s['injections_per_s']:.1f}/s (unpaced)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
