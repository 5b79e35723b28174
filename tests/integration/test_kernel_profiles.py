"""The kernel version the sim OS model and `record decode` follow (--os-kernel, --kernel):
a two-context ARM record in the UEFI layout is read as that kernel reads it."""

from __future__ import annotations

import json

import pytest

from fwemu import records
from fwemu.records.model import ArmContext, ArmErrorInfo, ArmSection, Entry, StatusBlock

CTX1 = "{1}[Hardware Error]:   Context info structure 1:"
GPRS = "{1}[Hardware Error]:    register context type: AArch64 general purpose registers"
SHORT = "{1}[Hardware Error]:    section length is too small"


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    return cli_isolated


@pytest.fixture
def fwemu(cli_run):
    return cli_run


@pytest.fixture
def record(tmp_path):
    sec = ArmSection(midr=1, error_info=[ArmErrorInfo(type=0x04)],
                     context=[ArmContext(type=5, registers=bytes(range(20))),
                              ArmContext(type=4, registers=bytes(range(16)))])
    path = tmp_path / "arm2.bin"
    path.write_bytes(records.encode(StatusBlock([Entry(sec, severity=2)])))
    return str(path)


@pytest.mark.parametrize("kernel, second", [(None, SHORT), ("6.1", SHORT), ("6.14", GPRS), ("mainline", GPRS)])
def test_sim_os_model_reads_contexts_as_the_kernel_version(fwemu, record, kernel, second):
    argv = ["inject", "raw", record, "--json", "--journal", "none"]
    if kernel:
        argv += ["--os-kernel", kernel]
    rc, out, err = fwemu(*argv)
    assert rc == 0, err
    log = json.loads(out)["os_log"]
    i = log.index(CTX1)
    assert log[i + 1] == second


@pytest.mark.parametrize("kernel, second", [("6.1", SHORT), ("6.14", GPRS)])
def test_record_decode_prints_as_the_kernel_version(fwemu, record, kernel, second):
    rc, out, err = fwemu("record", "decode", record, "--kernel", kernel)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[lines.index(CTX1) + 1] == second
    rc, out, err = fwemu("record", "decode", record, "--kernel", kernel, "--json")
    assert rc == 0 and json.loads(out)["kernel"] == kernel


def test_unknown_kernel_is_a_one_line_usage_error(fwemu, record):
    rc, out, err = fwemu("inject", "raw", record, "--os-kernel", "5.4", "--journal", "none")
    assert rc == 2 and "Traceback" not in err
    assert "--os-kernel: unknown kernel profile '5.4' (one of: 6.1, 6.6, 6.12, 6.14, mainline)" in err
    rc, out, err = fwemu("record", "decode", record, "--kernel", "7")
    assert rc == 2 and "--kernel: unknown kernel profile '7'" in err and "Traceback" not in err


def test_os_kernel_only_on_the_sim_board(fwemu, record):
    rc, out, err = fwemu("inject", "raw", record, "--os-kernel", "6.14", "--board", "qemu-virt",
                         "--journal", "none")
    assert rc == 2 and "--os-kernel: OS model options only apply to the sim board" in err
