#!/usr/bin/env python3
"""Writes the kept seed corpus for the fuzz harnesses (run once; the files are committed):
corpus/frame/ — every request of the golden agent session, as wire bytes and as bare
payloads joined by 0x00 (the harness re-frames those); corpus/cper/ — one valid status
block per fwemu scenario, plus truncations."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def main() -> int:
    frame_dir, cper_dir = os.path.join(HERE, "corpus", "frame"), os.path.join(HERE, "corpus", "cper")
    os.makedirs(frame_dir, exist_ok=True)
    os.makedirs(cper_dir, exist_ok=True)
    steps = json.load(open(os.path.join(ROOT, "protocol", "vectors", "agent_session.json")))["steps"]
    sys.path.insert(0, os.path.join(ROOT, "emulator"))
    from fwemu.channel import protocol as P
    payloads = []
    for st in steps:
        if st["send_hex"]:
            wire = bytes.fromhex(st["send_hex"])
            open(os.path.join(frame_dir, f"step{st['step']:02d}"), "wb").write(wire)
            payloads += P.Receiver().feed(wire)
    open(os.path.join(frame_dir, "payloads"), "wb").write(b"\x00".join(payloads))
    from fwemu import scenarios
    from fwemu.board import SCENARIOS
    f = scenarios.RecordFactory((0, 1, 2, 3))
    fields = {"raw": {"--guid": "a5bc1114-6f64-4ede-b863-3e83ed7c83b1"}}
    for sc in SCENARIOS:
        try:
            rec = f.make(sc, fields.get(sc, {}), 0, True, [])
        except Exception as exc:  # noqa: BLE001
            print(f"skip {sc}: {exc}", file=sys.stderr)
            continue
        open(os.path.join(cper_dir, sc), "wb").write(rec)
        open(os.path.join(cper_dir, sc + "-cut"), "wb").write(rec[: len(rec) // 2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
