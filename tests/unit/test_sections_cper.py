"""Cross-check the newer section kinds with an independent decoder: PyPI `cper` 0.0.4 (an
early OpenBMC libcper), which knows all of them. Status blocks are re-framed as full CPER
records by tests/cper_wrap.py, as tests/unit/test_cper_decoder.py does.

Known ways cper 0.0.4 reads them (asserted as such below):
  * CXL protocol agent types: only the CXL 1.1 ones (0 "CXL 1.1 Device", 1 "CXL 1.1 Host
    Downstream Port"); UEFI 2.10's 2..7 are "Unknown (Reserved)", and for them it shows no
    agent address and no serial number (Linux prints the S:B:D.F for 0 and 2..7).
  * CXL component events: the event record is kept as base64 bytes (not decoded).
  * slot numbers are shown as the slot number (the u16 >> 3), as Linux prints them.
  * u64 values above INT64_MAX come back clamped to INT64_MAX (json-c int64).
"""

from __future__ import annotations

import base64
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fwemu import records
from fwemu.records import sections as S
from fwemu.records.model import Entry, StatusBlock

cper = pytest.importorskip("cper", reason="pip install cper==0.0.4 (needs libjson-c-dev)")

from cper_wrap import wrap_record  # noqa: E402

INT64_MAX = (1 << 63) - 1
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
u8, u16, u64 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, (1 << 64) - 1)


def c64(v: int) -> int:
    return min(v, INT64_MAX)


def parse(sec) -> tuple[dict, dict]:
    buf = records.encode(StatusBlock([Entry(sec)]))
    assert records.check(buf).valid
    out = cper.parse(wrap_record(buf))
    assert len(out["sections"]) == 1
    return out["sectionDescriptors"][0], out["sections"][0]


def ras(**kw) -> bytes:
    return S.RasCapability(**kw).to_bytes()


# ---- CXL protocol -------------------------------------------------------------------------------

def test_cxl_protocol_cxl_1_1_device():
    log = ras(uncor_status=0x80, cor_status=3, header_log=bytes(range(64)))
    sec = S.CxlProtocolSection(agent_type=0, agent_segment=1, agent_bus=2, agent_device=3,
                               agent_function=4, vendor_id=0x8086, device_id=0x0D93,
                               subsystem_vendor_id=3, subsystem_id=4, class_code=0x0502,
                               slot=5 << 3, serial_number=0x1122334455667788,
                               capability=bytes(range(60)), dvsec=b"\x01\x02\x03\x04", error_log=log)
    desc, out = parse(sec)
    assert desc["sectionType"] == {"data": str(S.cxl_protocol.GUID), "type": "CXL Protocol Error"}
    p = out["CxlProtocol"]
    assert p["agentType"] == {"value": 0, "name": "CXL 1.1 Device"}
    assert p["cxlAgentAddress"] == {"functionNumber": 4, "deviceNumber": 3, "busNumber": 2,
                                    "segmentNumber": 1}
    assert p["deviceID"] == {"vendorID": 0x8086, "deviceID": 0x0D93, "subsystemVendorID": 3,
                             "subsystemDeviceID": 4, "classCode": 0x0502, "slotNumber": 5}
    assert p["deviceSerial"] == 0x1122334455667788
    assert base64.b64decode(p["capabilityStructure"]) == bytes(range(60))
    assert p["dvsecLength"] == 4 and base64.b64decode(p["cxlDVSEC"]) == b"\x01\x02\x03\x04"
    assert p["errorLogLength"] == 88 and base64.b64decode(p["cxlErrorLog"]) == log


def test_cxl_protocol_rch_downstream_port():
    sec = S.CxlProtocolSection(agent_type=1, rcrb_base_address=0xFED00000, error_log=ras())
    p = parse(sec)[1]["CxlProtocol"]
    assert p["agentType"] == {"value": 1, "name": "CXL 1.1 Host Downstream Port"}
    assert p["cxlAgentAddress"] == {"value": 0xFED00000}


def test_cxl_protocol_uefi_2_10_agent_types_are_unknown_to_cper_0_0_4():
    sec = S.CxlProtocolSection(agent_type=2, agent_bus=0x0C, vendor_id=0x8086, serial_number=1,
                               error_log=ras())
    p = parse(sec)[1]["CxlProtocol"]
    assert p["agentType"] == {"value": 2, "name": "Unknown (Reserved)"}
    assert "cxlAgentAddress" not in p and "deviceSerial" not in p
    assert p["deviceID"]["vendorID"] == 0x8086


# ---- CXL component events -----------------------------------------------------------------------

EVENT_NAMES = {S.CxlGeneralMediaSection: "CXL General Media Component Error",
               S.CxlDramSection: "CXL DRAM Component Error",
               S.CxlMemoryModuleSection: "CXL Memory Module Component Error"}


@PROPS
@given(st.sampled_from(list(EVENT_NAMES)), u16, u16, u8, u8, u8, u16, st.integers(0, 0x1FFF), u64,
       st.binary(min_size=16, max_size=16))
def test_cxl_event_header(cls, vendor, device_id, fn, dev, bus, seg, slot, serial, comp):
    sec = cls(vendor_id=vendor, device_id=device_id, function=fn, device=dev, bus=bus, segment=seg,
              slot=slot << 3, serial_number=serial, component_id=comp, handle=7)
    desc, out = parse(sec)
    assert desc["sectionType"] == {"data": str(cls.GUID), "type": EVENT_NAMES[cls]}
    c = out["CxlComponent"]
    assert c["length"] == 144
    assert c["deviceID"] == {"vendorID": vendor, "deviceID": device_id, "functionNumber": fn,
                             "deviceNumber": dev, "busNumber": bus, "segmentNumber": seg,
                             "slotNumber": slot}
    assert c["deviceSerial"] == c64(serial)
    assert base64.b64decode(c["cxlComponentEventLog"]["data"]) == sec.encode()[32:144]


# ---- PCI/PCI-X bus and device ---------------------------------------------------------------------

BUS_ERROR_TYPES = ("Unknown/OEM Specific Error", "Data Parity Error", "System Error", "Master Abort",
                   "Bus Timeout/No Device Present (No DEVSEL#)", "Master Data Parity Error",
                   "Address Parity Error", "Command Parity Error")


@PROPS
@given(st.integers(0, 7), u8, u8, u64, u64, u64, u64, u64, u64)
def test_pci_bus(etype, bus, seg, address, data, command, req, comp, target):
    sec = S.PciBusSection(error_type=etype, bus=bus, segment=seg, bus_address=address, bus_data=data,
                          bus_command=command, requestor_id=req, completer_id=comp, target_id=target)
    desc, out = parse(sec)
    assert desc["sectionType"] == {"data": str(S.pci_bus.GUID), "type": "PCI/PCI-X Bus"}
    b = out["PciBus"]
    assert b["errorType"] == {"value": etype, "name": BUS_ERROR_TYPES[etype]}
    assert b["busID"] == {"busNumber": bus, "segmentNumber": seg}
    assert (b["busAddress"], b["busData"]) == (c64(address), c64(data))
    assert b["busCommandType"] == ("PCI-X" if command >> 56 & 1 else "PCI")
    assert (b["busRequestorID"], b["busCompleterID"], b["targetID"]) == (c64(req), c64(comp), c64(target))
    assert b["busRequestorIDHex"] == f"0x{req:016X}"


def test_pci_bus_error_status():
    b = parse(S.PciBusSection(error_status=0x41000))[1]["PciBus"]
    assert b["errorStatus"]["errorType"]["value"] == 0x10 and b["errorStatus"]["dataSignal"] is True


@PROPS
@given(u16, u16, st.integers(0, 0xFFFFFF), u8, u8, u8, u8,
       st.lists(st.tuples(st.integers(0, INT64_MAX), st.integers(0, INT64_MAX)), max_size=4))
def test_pci_device(vendor, device_id, cc, seg, bus, dev, fn, regs):
    sec = S.PciDeviceSection(vendor_id=vendor, device_id=device_id, class_code=cc, segment=seg, bus=bus,
                             device=dev, function=fn, memory_number=len(regs), io_number=0,
                             registers=regs)
    desc, out = parse(sec)
    assert desc["sectionType"] == {"data": str(S.pci_device.GUID), "type": "PCI Component/Device"}
    d = out["PciComponent"]
    assert d["idInfo"] == {"vendorID": vendor, "deviceID": device_id, "classCode": cc,
                           "functionNumber": fn, "deviceNumber": dev, "busNumber": bus,
                           "segmentNumber": seg}
    assert (d["memoryNumber"], d["ioNumber"]) == (len(regs), 0)
    assert [(r["firstHalf"], r["secondHalf"]) for r in d.get("registerDataPairs", [])] == regs


# ---- IA32/X64 ------------------------------------------------------------------------------------

def test_x86_processor():
    info = S.X86ErrorInfo(type=S.x86_processor.CHECK_TYPES["cache"],
                          check_info=0x17 | 1 << 16 | 3 << 18 | 1 << 22 | 1 << 26,
                          target_id=0x60000000, requestor_id=2, responder_id=3, ip=4)
    ctx = S.X86Context(register_type=1, msr_address=0x179, registers=bytes(range(16)))
    sec = S.X86ProcessorSection(apic_id=5, cpuid_info=bytes(range(48)), error_info=[info], context=[ctx])
    desc, out = parse(sec)
    assert desc["sectionType"] == {"data": str(S.x86_processor.GUID), "type": "IA32/X64"}
    x = out["Ia32x64Processor"]
    assert (x["processorErrorInfoNum"], x["processorContextInfoNum"], x["localAPICID"]) == (1, 1, 5)
    assert x["cpuidInfo"]["eax"] == int.from_bytes(bytes(range(8)), "little")
    e = x["processorErrorInfo"][0]
    assert e["type"] == {"guid": "a55701f5-e3ef-43de-ac72-249b573fad2c", "name": "Cache Check Error"}
    assert e["checkInfo"] == {"transactionType": {"value": 1, "name": "Data Access"},
                              "operation": {"value": 3, "name": "Data Read"}, "level": 1,
                              "uncorrected": True}
    assert (e["targetAddressID"], e["requestorID"], e["responderID"], e["instructionPointer"]) == \
        (0x60000000, 2, 3, 4)
    c = x["processorContextInfo"][0]
    assert c["registerContextType"] == {"value": 1, "name": "MSR Registers"}
    assert (c["registerArraySize"], c["msrAddress"]) == (16, 0x179)
    assert base64.b64decode(c["registerArray"]["data"]) == bytes(range(16))


def test_the_scenarios_decode_in_cper():
    from fwemu import scenarios
    for kind in scenarios.NEWER:
        buf = records.encode(scenarios.build(kind, {"timestamp": "none"}))
        out = cper.parse(wrap_record(buf))
        assert uuid.UUID(out["sectionDescriptors"][0]["sectionType"]["data"]) == \
            S.CLASSES[kind].GUID, kind


def test_nvidia():
    sec = S.NvidiaSection(signature=b"DCC-ECC", error_type=3, error_instance=4, severity=2, socket=1,
                          instance_base=0x1234, registers=[(0x10, 0x20), (0x30, 1 << 63)])
    desc, out = parse(sec)
    assert desc["sectionType"] == {"data": str(S.nvidia.GUID), "type": "NVIDIA"}
    assert out["Nvidia"] == {"signature": "DCC-ECC", "severity": {"code": 2, "name": "Corrected"},
                             "errorType": 3, "errorInstance": 4, "socket": 1, "registerCount": 2,
                             "instanceBase": 0x1234,
                             "registers": [{"address": 0x10, "value": 0x20},
                                           {"address": 0x30, "value": INT64_MAX}]}
