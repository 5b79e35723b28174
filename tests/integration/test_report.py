"""`fwemu report`: a self-contained HTML report of a journal (issue 16, Reports).

Real sim runs through the CLI make the journal; a hand-written one carries hostile text.
The browser test renders the file in headless Chromium (Debian's `chromium`): a screenshot
of the expected size that is not blank, and no console message. Without Chromium it skips,
unless FWEMU_REQUIRE_BROWSER=1 (CI), which makes a missing browser a failure.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys

import pytest

from fwemu import cli

try:
    import matplotlib  # noqa: F401 - the report's plots; the test extra installs it
except ImportError:
    if os.environ.get("FWEMU_REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("the report's plots need matplotlib (pip install -e '.[test]')", allow_module_level=True)

RUNS = [
    ["memory-ue", "--count", "40", "--address", "0x60000000:0x60100000:0x1000"],
    ["memory-ue", "--notify", "sdei", "--count", "6", "--address", "0x61000000:0x61010000:0x1000"],
    ["memory-fatal"],
    ["pcie-ue"],
    ["memory-ue", "--notify", "sdei", "--mask-pe", "0"],
    ["memory-ue", "--os-deaf", "--timeout", "0.2", "--count", "2"],
    ["memory-ue", "--identical", "--count", "3", "--address", "0x62000000"],
]


def _main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    logging.getLogger().handlers.clear()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    base = tmp_path_factory.mktemp("report-real")
    run_dir = base / "run"
    run_dir.mkdir(mode=0o700)
    path = base / "j.jsonl"
    results = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_RUNTIME_DIR", str(run_dir))
        mp.setenv("XDG_STATE_HOME", str(base / "state"))
        mp.delenv("FWEMU_BOARD", raising=False)
        for argv in RUNS:
            rc, out, err = _main(["inject", *argv, "--journal", str(path), "--json"])
            env = json.loads(out)
            assert env["error"] is None
            results.append(env["injections"])
    return path, results


def _states(injs) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in injs:
        out[i["state"]] = out.get(i["state"], 0) + 1
    return out


@pytest.fixture(scope="module")
def report(real, tmp_path_factory):
    out_file = tmp_path_factory.mktemp("report-out") / "report.html"
    rc, out, err = _main(["report", "--journal", str(real[0]), "-o", str(out_file)])
    assert rc == 0, err
    assert out.startswith(f"wrote {out_file}: 54 injections (")
    return out_file


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    return cli_isolated


def test_the_report_has_every_section_and_the_numbers(real, report):
    path, results = real
    page = report.read_text()
    os_lines = [x for ln in path.read_text().splitlines() if '"os-log"' in ln for x in json.loads(ln)["lines"]]
    recovered = sum(1 for x in os_lines if x.startswith("Memory failure: ") and x.endswith("free buddy page: Recovered"))
    assert recovered >= 40
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for title in ("Totals", "Runs", "Outcomes by scenario and notification",
                  "Latency (notification → consumption, ms)", "Injections over time",
                  "Refusals, timeouts and other outcomes, by reason", "OS reactions",
                  "memory_failure outcomes", "Hardware error records by source", "Panics (1)"):
        assert f"<h2>{title}</h2>" in page, title
    assert "<b>54</b>injections" in page and "<b>7</b>runs" in page
    for state, n in _states([i for injs in results for i in injs]).items():
        assert f"<b>{n:,}</b>{state}</div>" in page, state
    assert "<b>1</b>refused" in page and "<b>2</b>timed-out" in page
    assert "PE 0 is masked (the client has not called SDEI_PE_UNMASK)" in page
    assert "GHES: Fatal hardware error" in page
    assert f"recovery action for free buddy page: Recovered</td><td class=\"n\">{recovered}</td>" in page
    assert "<td>AER lines</td><td class=\"n\">1</td>" in page
    # one plot per outcome view, one latency figure, one rate figure
    assert page.count('<img class="plot" alt="plot" src="data:image/png;base64,') == 4


def test_the_report_is_self_contained(report):
    page = report.read_text()
    assert "://" not in page                         # nothing fetched: no URL of any scheme
    assert "<script" not in page.lower() and "<link" not in page.lower()
    srcs = re.findall(r'src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)


def test_runs_and_filters_select_what_is_reported(real, tmp_path):
    real, results = real
    out_file = tmp_path / "r.html"
    env = json.loads(_main(["report", "last", "--journal", str(real), "-o", str(out_file), "--json"])[1])
    assert env["error"] is None and env["runs"] == 1 and env["injections"] == 3
    assert env["states"] == _states(results[-1])
    env = json.loads(_main(["report", "--journal", str(real), "--notify", "sdei", "--state", "consumed",
                            "-o", str(out_file), "--json"])[1])
    sdei = [i for injs in results for i in injs if i["notify"] == "sdei" and i["state"] == "consumed"]
    assert env["injections"] == len(sdei) == 7 and env["runs"] == 2
    page = out_file.read_text()
    assert "selection: state consumed; notification sdei" in page
    rc, out, err = _main(["report", "--journal", str(real), "--state", "bogus", "-o", str(out_file)])
    assert rc == 2 and err.startswith("fwemu: error: --state: unknown state 'bogus'")
    rc, out, err = _main(["report", "--journal", str(real)])
    assert rc == 2 and "-o/--output" in err


def test_no_plots_and_stdout(real):
    rc, out, err = _main(["report", "--journal", str(real[0]), "--no-plots", "-o", "-"])
    assert rc == 0 and out.startswith("<!DOCTYPE html>") and "<img" not in out and "OS reactions" in out


def test_missing_matplotlib_is_exit_5_with_the_install_hint(real, tmp_path, monkeypatch):
    real = real[0]
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    rc, out, err = _main(["report", "--journal", str(real), "-o", str(tmp_path / "r.html")])
    assert rc == 5 and "pip install 'fwemu[report]'" in err and not (tmp_path / "r.html").exists()
    rc, out, err = _main(["report", "--journal", str(real), "--no-plots", "-o", str(tmp_path / "r.html")])
    assert rc == 0


HOSTILE = "<script>alert(1)</script>"


def test_text_from_the_journal_is_escaped(tmp_path):
    run = "20261201T100000-1-<b>x</b>"
    lines = [
        {"event": "run", "run": run, "board": '<img src=x onerror="alert(2)">', "pid": 1, "target": "sim",
         "format": 2, "m_start": 1.0, "wall_start": 1796112000.0},
        {"event": "accepted", "id": 1, "scenario": HOSTILE, "source": 2, "pe": 0, "accepted": 1796112000.0,
         "run": run, "m_accepted": 1.0},
        {"id": 1, "scenario": HOSTILE, "source": 2, "notify": "sea&<i>", "pe": 0, "state": "refused",
         "reason": HOSTILE + " & 'quotes' \"", "accepted": 1796112000.0, "run": run, "m_accepted": 1.0,
         "m_end": 1.1, "event": "refused"},
        {"event": "os-log", "run": run, "m_at": 1.2, "count": 2,
         "lines": ["Memory failure: 0x1: " + HOSTILE, "Kernel panic - not syncing: </td></tr>"],
         "os": {"up": False, "panic": "</table>" + HOSTILE}},
    ]
    path = tmp_path / "j.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out_file = tmp_path / "r.html"
    rc, out, err = _main(["report", "--journal", str(path), "-o", str(out_file), "--title", "<h1>t</h1>"])
    assert rc == 0, err
    page = out_file.read_text()
    assert "<script" not in page and "<img src=x" not in page and "<b>x</b>" not in page
    assert "</table>&lt;script" not in page and "<h1>t</h1>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#x27;quotes&#x27; &quot;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert page.count("<table>") == page.count("</table>")


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_the_report_renders_in_a_headless_browser(report, tmp_path):
    browser = _browser()
    if browser is None:
        if os.environ.get("FWEMU_REQUIRE_BROWSER") == "1":
            pytest.fail("FWEMU_REQUIRE_BROWSER=1 and no chromium: scripts/install-system-deps.sh installs it")
        pytest.skip("no chromium (scripts/install-system-deps.sh installs it; FWEMU_REQUIRE_BROWSER=1 makes this a failure)")
    from PIL import Image

    shot = tmp_path / "shot.png"
    width, height = 1200, 2400
    argv = [browser, "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--disable-extensions", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
            f"--window-size={width},{height}", f"--screenshot={shot}", "--enable-logging=stderr", "--v=0",
            report.as_uri()]
    if os.geteuid() == 0:
        argv.insert(1, "--no-sandbox")     # Chromium's sandbox refuses to run as root
    env = dict(os.environ, HOME=str(tmp_path))
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)
    log = cp.stdout + cp.stderr
    assert cp.returncode == 0, log[-3000:]
    assert shot.is_file() and shot.stat().st_size > 10_000, log[-3000:]
    console = [ln for ln in log.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
    with Image.open(shot) as im:
        assert im.size == (width, height)
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        assert len(colours) > 50, len(colours)        # text, tables, cards and plots, not a blank page
        top = dict((c, n) for n, c in colours)
        # the header's dark slate, the consumed card's green, the refused card's red: the CSS applied
        for rgb_value in ((0x26, 0x32, 0x38), (0x2E, 0x7D, 0x32), (0xC6, 0x28, 0x28)):
            assert top.get(rgb_value, 0) > 500, rgb_value
        # the first plot is drawn: a band of the page below the runs table is not one colour
        band = rgb.crop((0, height // 3, width, height // 3 + 400))
        assert len(band.getcolors(maxcolors=1 << 20) or []) > 20
