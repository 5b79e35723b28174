"""Byte-exact golden vectors for the newer section kinds (records/sections/), worked out by
hand from the layout tables (UEFI 2.10 N.2.4.2, N.2.8, N.2.9, N.2.13, N.2.14; edk2 Cper.h;
Linux include/cxl/event.h), never by calling the encoder.

Offsets in the comments are from the start of the section body (`+n`), or of the status
block for the one whole-block vector. Each vector is checked both ways: the model encodes
to it, and it decodes to the model (directly and through records.decode of a status block).

Hex notation of `H()`: whitespace-separated bytes, `#` starts a comment, `00*16` is sixteen
zero bytes.
"""

from __future__ import annotations

import re
import uuid

import pytest

from fwemu import records
from fwemu.records import sections as S
from fwemu.records.model import Entry, StatusBlock


def H(text: str) -> bytes:
    out = bytearray()
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        for tok in line.split():
            if "*" in tok:
                byte, count = tok.split("*")
                out += bytes([int(byte, 16)]) * int(count)
            else:
                assert re.fullmatch(r"[0-9a-fA-F]{2}", tok), tok
                out.append(int(tok, 16))
    return bytes(out)


def seq(start: int, n: int) -> str:
    """n bytes start, start+1, ... as H() text."""
    return " ".join(f"{(start + i) & 0xFF:02x}" for i in range(n))


def first_difference(a: bytes, b: bytes) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"first difference at +{i:#x}: expected {x:02x}, got {y:02x}"
    return f"lengths differ: expected {len(a)}, got {len(b)}"


def assert_golden(golden: bytes, sec) -> None:
    got = sec.encode()
    assert got == golden, first_difference(golden, got)
    assert type(sec).decode(golden) == sec
    assert S.decode(sec.GUID, golden) == sec
    blk = StatusBlock([Entry(sec)])
    assert records.decode(records.encode(blk)) == blk


# ---- CXL protocol error (N.2.13) -------------------------------------------------------------

HEADER_LOG = bytes(range(0x40, 0x80))
CXL_PROT_DEVICE = H(f"""
    7f 00 00 00 00 00 00 00   # +0   validation: bits 0-6 (agent type .. error log)
    02                        # +8   agent type 2: CXL Device
    00*7                      # +9   reserved
    04 03 02 01 00            # +16  agent address: function 4, device 3, bus 2, segment 0x0001
    00 00 00                  # +21  agent address reserved
    86 80 93 0d               # +24  vendor 0x8086, device 0x0d93
    34 12 78 56               # +28  subsystem vendor 0x1234, subsystem 0x5678
    02 05                     # +32  class code 0x0502
    28 00                     # +34  slot: number 5 in bits 15:3 = 0x0028
    00*4                      # +36  device id reserved
    88 77 66 55 44 33 22 11   # +40  serial number 0x1122334455667788
    {seq(0, 60)}              # +48  PCIe capability structure (60 bytes)
    04 00                     # +108 CXL DVSEC length 4
    58 00                     # +110 CXL error log length 88
    00*4                      # +112 reserved
    de ad be ef               # +116 CXL DVSEC
    80 00 00 00               # +120 RAS uncorrectable status 0x80 (Mem_Data_ECC)
    00 00 00 00               # +124 uncorrectable mask
    30 20 06 00               # +128 uncorrectable severity 0x00062030
    00 00 00 00               # +132 correctable status
    7f 00 00 00               # +136 correctable mask 0x7f
    07 00 00 00               # +140 capability control: first error pointer 7
    {seq(0x40, 64)}           # +144 header log (16 dwords)
""")


def test_cxl_protocol_device_agent_every_field():
    assert len(CXL_PROT_DEVICE) == 116 + 4 + 88
    ras = S.RasCapability(uncor_status=0x80, uncor_severity=0x62030, cor_mask=0x7F, cap_control=7,
                          header_log=HEADER_LOG)
    sec = S.CxlProtocolSection(
        agent_type=2, agent_segment=1, agent_bus=2, agent_device=3, agent_function=4,
        vendor_id=0x8086, device_id=0x0D93, subsystem_vendor_id=0x1234, subsystem_id=0x5678,
        class_code=0x0502, slot=5 << 3, serial_number=0x1122334455667788,
        capability=bytes(range(60)), dvsec=bytes.fromhex("deadbeef"), error_log=ras.to_bytes())
    assert_golden(CXL_PROT_DEVICE, sec)


CXL_PROT_RCH_DP = H("""
    43 00 00 00 00 00 00 00   # +0   validation: agent type, agent address, error log
    01                        # +8   agent type 1: RCH downstream port
    00*7                      # +9   reserved
    00 00 d0 fe 00 00 00 00   # +16  RCRB base address 0xfed00000 (the union's other form)
    00*16                     # +24  device id (bit 2 clear)
    00*8                      # +40  serial (bit 3 clear)
    00*60                     # +48  capability (bit 4 clear)
    00 00                     # +108 DVSEC length 0
    58 00                     # +110 error log length 88
    00*4                      # +112 reserved
    00 00 00 00               # +116 RAS uncorrectable status
    00*8                      # +120 mask, severity
    02 00 00 00               # +128 correctable status 0x2 (Mem_Data_ECC)
    00*8                      # +132 correctable mask, capability control
    00*64                     # +140 header log
""")


def test_cxl_protocol_rch_downstream_port_rcrb_address():
    ras = S.RasCapability(cor_status=2)
    sec = S.CxlProtocolSection(agent_type=1, rcrb_base_address=0xFED00000, error_log=ras.to_bytes())
    assert_golden(CXL_PROT_RCH_DP, sec)


def test_cxl_protocol_keeps_reserved_and_bytes_under_clear_bits():
    body = bytearray(CXL_PROT_RCH_DP)
    body[0] = 0x00          # no validation bit at all: every field's bytes still kept
    body[9] = 0xAA          # reserved byte after the agent type
    body[113] = 0x55        # the reserved dword at +112
    sec = S.CxlProtocolSection.decode(bytes(body))
    assert sec is not None and sec.encode() == bytes(body)
    assert sec.explicit_validation_bits == 0 and sec.reserved[0] == 0xAA
    assert sec.rcrb_base_address == 0xFED00000 and sec.error_log is not None


def test_cxl_protocol_lengths_past_the_section_are_kept_as_written():
    body = bytearray(CXL_PROT_RCH_DP[:116])
    body[110:112] = b"\x58\x00"          # claims an 88-byte log the section does not hold
    sec = S.CxlProtocolSection.decode(bytes(body))
    assert sec is not None and sec.error_log is None and sec.error_log_length == 88
    assert sec.encode() == bytes(body)


# ---- CXL component events (N.2.14) -----------------------------------------------------------

CXL_HEADER = """
    90 00 00 00               # +0   section length 144
    07 00 00 00 00 00 00 00   # +4   validation: device id, serial, event log
    86 80 93 0d               # +12  vendor 0x8086, device 0x0d93
    02 01 0c                  # +16  function 2, device 1, bus 0x0c
    00 00                     # +19  segment 0
    18 00                     # +21  slot 3 (bits 15:3)
    00                        # +23  reserved
    01 00 00 00 00 00 00 00   # +24  serial number 1
    80                        # +32  event record length 128
    02 00 00                  # +33  flags: severity 2 (failure)
    01 00                     # +36  handle 1
    00 00                     # +38  related handle
    08 07 06 05 04 03 02 01   # +40  timestamp 0x0102030405060708
    00 00                     # +48  maintenance operation class, subclass
    00 00 00                  # +50  LD-ID, head id
    00*11                     # +53  reserved
"""
HEADER_FIELDS = dict(vendor_id=0x8086, device_id=0x0D93, function=2, device=1, bus=0x0C, segment=0,
                     slot=3 << 3, serial_number=1, record_flags=2, handle=1,
                     event_timestamp=0x0102030405060708)

CXL_GEN_MEDIA = H(CXL_HEADER + f"""
    00 10 00 00 00 00 00 00   # +64  DPA 0x1000
    01                        # +72  descriptor: uncorrectable
    00                        # +73  event type 0: ECC error
    01                        # +74  transaction type 1: host read
    0b 00                     # +75  validity flags: channel, rank, component id
    02                        # +77  channel 2
    01                        # +78  rank 1
    00 00 00                  # +79  device
    {seq(0x10, 16)}           # +82  component id
    00                        # +98  threshold event flags
    00 00 00                  # +99  corrected error count
    00                        # +102 sub-type
    00*41                     # +103 reserved
""")


def test_cxl_general_media():
    assert len(CXL_GEN_MEDIA) == 144
    sec = S.CxlGeneralMediaSection(**HEADER_FIELDS, dpa=0x1000, descriptor=1, transaction_type=1,
                                   validity_flags=0x0B, channel=2, rank=1,
                                   component_id=bytes(range(0x10, 0x20)))
    assert_golden(CXL_GEN_MEDIA, sec)


CXL_DRAM = H(CXL_HEADER + f"""
    00 20 00 00 00 00 00 00   # +64  DPA 0x2000
    00                        # +72  descriptor: corrected
    01                        # +73  event type 1: scrub media ECC error
    05                        # +74  transaction type 5: internal media scrub
    7f 00                     # +75  validity flags 0x7f
    01 02                     # +77  channel 1, rank 2
    00 ff 00                  # +79  nibble mask 0x00ff00
    02 05                     # +82  bank group 2, bank 5
    45 23 01                  # +84  row 0x012345
    bc 0a                     # +87  column 0x0abc
    {seq(0xa0, 32)}           # +89  correction mask
    00*16                     # +121 component id
    01                        # +137 sub-channel 1
    00 03 00 00 00            # +138 threshold flags, corrected volatile count 3, sub-type
    00                        # +143 reserved
""")


def test_cxl_dram():
    assert len(CXL_DRAM) == 144
    sec = S.CxlDramSection(**HEADER_FIELDS, dpa=0x2000, event_type=1, transaction_type=5,
                           validity_flags=0x7F, channel=1, rank=2, nibble_mask=0x00FF00,
                           bank_group=2, bank=5, row=0x012345, column=0x0ABC,
                           correction_mask=bytes(range(0xA0, 0xC0)), sub_channel=1, cvme_count=3)
    assert_golden(CXL_DRAM, sec)


CXL_MEM_MODULE = H(CXL_HEADER + """
    03                        # +64  device event type 3: temperature change
    01 00 02 32               # +65  health status 1, media status 0, additional 2, life used 50
    2d 00                     # +69  device temperature 45
    07 00 00 00               # +71  dirty shutdown count 7
    00 01 00 00               # +75  corrected volatile errors 0x100
    00 02 00 00               # +79  corrected persistent errors 0x200
    01 00                     # +83  validity flags
    00*16                     # +85  component id
    00                        # +101 event sub-type
    00*42                     # +102 reserved
""")


def test_cxl_memory_module():
    assert len(CXL_MEM_MODULE) == 144
    sec = S.CxlMemoryModuleSection(**HEADER_FIELDS, event_type=3, health_status=1, add_status=2,
                                   life_used=50, device_temp=45, dirty_shutdown_count=7,
                                   cor_vol_err_count=0x100, cor_per_err_count=0x200,
                                   validity_flags=1)
    assert_golden(CXL_MEM_MODULE, sec)


def test_cxl_event_length_field_and_trailing_bytes_are_kept():
    body = bytearray(CXL_MEM_MODULE) + b"\x99\x98"
    body[0:4] = (0x20).to_bytes(4, "little")            # a length field Linux rejects
    body[100] = 0x11                                     # last component id byte
    body[130] = 0x42                                     # reserved area
    sec = S.CxlMemoryModuleSection.decode(bytes(body))
    assert sec is not None and sec.length == 0x20 and sec.trailing == b"\x99\x98"
    assert sec.encode() == bytes(body)


# ---- PCI/PCI-X bus (N.2.8) ---------------------------------------------------------------------

PCI_BUS = H("""
    ff 01 00 00 00 00 00 00   # +0   validation: bits 0-8
    00 10 04 00 00 00 00 00   # +8   error status: type 0x10 (bus) in bits 15:8, data signal (bit 18)
    06 00                     # +16  error type 6: address parity
    03 02                     # +18  bus id: bus 3, segment 2
    00*4                      # +20  reserved
    00 00 00 60 00 00 00 00   # +24  bus address 0x60000000
    ef be ad de 00 00 00 00   # +32  bus data 0xdeadbeef
    06 00 00 00 00 00 00 01   # +40  bus command: 0x6 memory read, bit 56 PCI-X
    07 00 00 00 00 00 00 00   # +48  requestor id 7
    08 00 00 00 00 00 00 00   # +56  completer id 8
    09 00 00 00 00 00 00 00   # +64  target id 9
""")


def test_pci_bus_every_field():
    sec = S.PciBusSection(error_status=0x41000, error_type=6, segment=2, bus=3, bus_address=0x60000000,
                          bus_data=0xDEADBEEF, bus_command=1 << 56 | 6, requestor_id=7, completer_id=8,
                          target_id=9)
    assert_golden(PCI_BUS, sec)


def test_pci_bus_sets_shared_bit_fields_together():
    sec = S.PciBusSection(bus=3)
    assert sec.segment == 0 and sec.validation_bits == 0x4
    assert sec.encode() == H("04 00*7  00*8  00 00  03 00  00*52")


# ---- PCI/PCI-X device (N.2.9) ------------------------------------------------------------------

PCI_DEVICE = H("""
    1f 00 00 00 00 00 00 00   # +0   validation: bits 0-4
    00 10 00 00 00 00 00 00   # +8   error status 0x1000
    b5 13 00 01               # +16  vendor 0x13b5, device 0x0100
    00 00 02                  # +20  class code 0x020000 (u24)
    04 03 02 01               # +23  function 4, device 3, bus 2, segment 1
    00 00*4                   # +27  reserved
    01 00 00 00               # +32  memory number 1
    01 00 00 00               # +36  IO number 1
    10 00 00 60 00 00 00 00   # +40  pair 0 address 0x60000010
    06 00 00 80 00 00 00 00   # +48  pair 0 value 0x80000006
    f8 0c 00 00 00 00 00 00   # +56  pair 1 address 0xcf8
    00 00 00 80 00 00 00 00   # +64  pair 1 value 0x80000000
""")


def test_pci_device_with_register_pairs():
    sec = S.PciDeviceSection(error_status=0x1000, vendor_id=0x13B5, device_id=0x0100,
                             class_code=0x020000, segment=1, bus=2, device=3, function=4,
                             memory_number=1, io_number=1,
                             registers=[(0x60000010, 0x80000006), (0xCF8, 0x80000000)])
    assert_golden(PCI_DEVICE, sec)


def test_pci_device_register_bit_without_pairs():
    body = H("10 00*7  00*32")          # only the register-pairs bit, no pair follows
    sec = S.PciDeviceSection.decode(body)
    assert sec is not None and sec.registers == [] and sec.encode() == body


# ---- IA32/X64 processor (N.2.4.2) --------------------------------------------------------------

X86 = H(f"""
    07 01 00 00 00 00 00 00   # +0   validation: APIC id, CPUID info, 1 error info (bits 7:2), 1 context (bits 13:8)
    05 00 00 00 00 00 00 00   # +8   local APIC id 5
    {seq(0, 48)}              # +16  CPUID info
    b3 f8 f3 1c b1 c5 a2 49 aa 59 5e ef 92 ff a6 3c   # +64 type: bus check 1CF3F8B3-C5B1-49A2-AA59-5EEF92FFA63C
    1f 00 00 00 00 00 00 00   # +80  error info validation: bits 0-4
    17 00 4d 04 00 00 00 00   # +88  check info 0x044d0017
    00 00 00 60 00 00 00 00   # +96  target id 0x60000000
    02 00 00 00 00 00 00 00   # +104 requestor id
    03 00 00 00 00 00 00 00   # +112 responder id
    00 10 40 00 00 00 ff ff   # +120 instruction pointer 0xffff000000401000
    01 00                     # +128 context: register type 1 (MSR)
    10 00                     # +130 register array size 16
    79 01 00 00               # +132 MSR address 0x179
    00*8                      # +136 MM register address
    {seq(0x80, 16)}           # +144 register array
""")


def test_x86_processor_error_info_and_context():
    info = S.X86ErrorInfo(type=uuid.UUID("1CF3F8B3-C5B1-49A2-AA59-5EEF92FFA63C"), check_info=0x044D0017,
                          target_id=0x60000000, requestor_id=2, responder_id=3, ip=0xFFFF000000401000)
    ctx = S.X86Context(register_type=1, msr_address=0x179, registers=bytes(range(0x80, 0x90)))
    sec = S.X86ProcessorSection(apic_id=5, cpuid_info=bytes(range(48)), error_info=[info], context=[ctx])
    assert_golden(X86, sec)


@pytest.mark.parametrize("cut", [1, 17, 60])
def test_x86_counts_past_the_bytes_decode_raw(cut):
    body = X86[:-cut]                   # the context (or more) does not fit: not this layout
    assert S.X86ProcessorSection.decode(body) is None
    blk = StatusBlock([Entry(records.RawSection(guid=S.X86ProcessorSection.GUID, data=body))])
    assert records.decode(records.encode(blk)) == blk


# ---- one whole status block: the GDE around a new section ----------------------------------------

PCI_BUS_BLOCK = H("""
    11 00 00 00      # 0x00 block_status 0x11: uncorrectable valid | 1 entry << 4
    00 00 00 00      # 0x04 raw_data_offset 0 (no raw data)
    00 00 00 00      # 0x08 raw_data_length 0
    90 00 00 00      # 0x0c data_length 144 = 72 (GDE v3) + 72 (PCI bus)
    00 00 00 00      # 0x10 error_severity recoverable
    63 39 75 c5 84 3b 95 40 bf 78 ed da d3 f9 c9 dd   # 0x14 section type C5753963-3B84-4095-BF78-EDDAD3F9C9DD
    00 00 00 00      # 0x24 GDE error_severity recoverable
    00 03            # 0x28 revision 0x0300
    00               # 0x2a validation bits
    01               # 0x2b flags: primary
    48 00 00 00      # 0x2c error_data_length 72
    00*16 00*20 00*8 # 0x30 fru id, fru text, timestamp
    06 00 00 00 00 00 00 00   # 0x5c +0  validation: error type, bus id
    00*8                      # 0x64 +8  error status
    04 00                     # 0x6c +16 error type 4: bus timeout
    01 00                     # 0x6e +18 bus 1, segment 0
    00*52                     # 0x70 +20 the rest
""")


def test_pci_bus_status_block():
    blk = StatusBlock([Entry(S.PciBusSection(error_type=4, bus=1))])
    raw = records.encode(blk)
    assert raw == PCI_BUS_BLOCK, first_difference(PCI_BUS_BLOCK, raw)
    assert records.check(raw).valid and records.decode(raw) == blk


# ---- NVIDIA (Linux ghes-nvidia.c struct cper_sec_nvidia) -------------------------------------

NVIDIA = H("""
    44 43 43 2d 45 43 43 00 00 00 00 00 00 00 00 00   # +0  signature "DCC-ECC", NUL-padded
    03 00                     # +16 error type 3
    04 00                     # +18 error instance 4
    02                        # +20 severity 2
    01                        # +21 socket 1
    02                        # +22 number of registers 2
    00                        # +23 reserved
    34 12 00 00 00 00 00 00   # +24 instance base 0x1234
    10 00 00 00 00 00 00 00   # +32 register 0 address 0x10
    20 00 00 00 00 00 00 00   # +40 register 0 value 0x20
    00 00 f1 04 00 00 00 00   # +48 register 1 address 0x04f10000
    19 20 00 00 00 00 00 80   # +56 register 1 value 0x8000000000002019
""")


def test_nvidia():
    sec = S.NvidiaSection(signature="DCC-ECC", error_type=3, error_instance=4, severity=2, socket=1,
                          instance_base=0x1234, registers=[(0x10, 0x20), (0x04F10000, 0x8000000000002019)])
    assert_golden(NVIDIA, sec)


def test_nvidia_register_count_past_the_section():
    body = NVIDIA[:48]                   # says 2 registers, holds one
    sec = S.NvidiaSection.decode(body)
    assert sec is not None and sec.number_regs == 2 and sec.registers == [] and sec.encode() == body
