"""A firmware instance for one board: target + firmware model + journal, in-process.

Commands use `Session.open(board, …)`; the daemon keeps one alive and serves the same
`inject`/`status`/`reset` requests over its control socket.
"""

from __future__ import annotations

import statistics
import time

from .board import Board
from .firmware import FirmwareModel
from .journal import Journal, default_path
from .targets import open_target
from .targets.linux_model import OsKnobs


def latency_summary(injs: list[dict]) -> dict:
    states: dict[str, int] = {}
    for i in injs:
        states[i["state"]] = states.get(i["state"], 0) + 1
    lat = sorted(i["latency_ms"] for i in injs if i.get("latency_ms") is not None)
    q = (lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]) if lat else (lambda p: None)
    return {"states": states, "count": len(injs), "p50_ms": q(0.50), "p99_ms": q(0.99),
            "max_ms": lat[-1] if lat else None, "mean_ms": statistics.fmean(lat) if lat else None}


class Session:
    def __init__(self, board: Board, target, firmware: FirmwareModel, journal: Journal):
        self.board, self.target, self.firmware, self.journal = board, target, firmware, journal

    @classmethod
    def open(cls, board: Board, journal: str | None = None, unsafe_concurrent_sei: bool = False,
             sim: dict | None = None) -> Session:
        options = {}
        if board.target.kind == "sim":
            sim = sim or {}
            options = {"knobs": OsKnobs(delay=sim.get("delay", 0.0), deaf=sim.get("deaf", False),
                                        sei_mode=sim.get("sei_mode", "walk"),
                                        ratelimit=sim.get("ratelimit", True)),
                       "masked_pes": sim.get("masked_pes", ())}
        target = open_target(board, **options)
        jpath = None if journal == "none" else (journal or default_path(board.name))
        j = Journal(jpath)
        fw = FirmwareModel(board, target, j, unsafe_concurrent_sei=unsafe_concurrent_sei)
        return cls(board, target, fw, j)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.firmware.interrupt("fwemu session closed")
        self.target.close()
        self.journal.close()

    def inject(self, req: dict) -> dict:
        """Submit `count` injections at `rate`, wait for every one to end; return their
        journal records, the OS log lines they produced and the OS state."""
        fw = self.firmware
        _lines, mark = self.target.os_log(0)
        injs = []
        count, rate = int(req.get("count", 1)), float(req.get("rate") or 0)
        t0 = time.monotonic()
        for k in range(count):
            if rate > 0:
                due = t0 + k / rate
                while time.monotonic() < due:
                    fw.pump(max(0.0, min(0.05, due - time.monotonic())))
            injs.append(fw.submit(req["scenario"], req.get("fields") or {}, source_id=req.get("source"),
                                  notify=req.get("notify"), pe=int(req.get("pe", 0)),
                                  timeout=float(req.get("timeout", 5.0)), record=req.get("record"),
                                  unique=req.get("unique", True)))
            if k % 64 == 63:
                fw.pump(0)
        fw.wait_all(injs)
        lines, _ = self.target.os_log(mark)
        return {"via": "in-process", "injections": [i.to_json() for i in injs], "os_log": lines,
                "os": self.target.os_state()}

    def status(self) -> dict:
        return self.firmware.status()

    def reset(self) -> dict:
        self.firmware.reset()
        return {"os": self.target.os_state()}
