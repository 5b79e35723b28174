"""libcper 0.0.4's register breakdown of a PCIe section's capability structure (60 bytes)
and AER block (96 bytes): the objects it writes beside their base64 `data`.

A view of the bytes only (libcper reads `data` back, never these), so it is written and
not read. The layout is libcper's, taken from its packed bit-field structs, not the PCIe
spec's where the two differ:
- Link Capabilities 2 (capability offset 0x2C) is 8 bytes in libcper: its speeds sit in a
  union that starts on the next byte, so `supported_link_speeds` is byte 0x2D bits 6:0, the
  fields after it start at byte 0x31, and Link Control 2 / Link Status 2 are read at 0x34 /
  0x36 (the spec's 0x30 / 0x32). Slot Control 2 / Status 2 would lie past byte 60; libcper
  shows them as empty objects.
- Root Error Status (AER offset 0x30): the interrupt message number is bits 29:25 (spec:
  31:27), after a 16-bit reserved span.
- The registers after Root Status are shown only for a capability version of 2 or more.
- The device/port type names index libcper's list by position (value 2 is "ROOT_PORT").
Many fields libcper declares but leaves commented out are not written; reserved and
unwritten bits are still carried by `data`.
"""

from __future__ import annotations

from typing import Any

# how a field is written: int, bool, RAW ({"raw": v}), PORTS ({"raw", "value"} by position)
# or a (clear, set) pair of names (libcper's add_bool_enum: any non-zero value is "set")
RAW = "raw"
PORTS = "ports"
SUPPORTED = ("NotSupported", "Supported")
ENABLED = ("Disabled", "Enabled")
PASSING = ("Failed", "Passing")
SEVERITY = ("NonFatal", "Fatal")
PORT_NAMES = ("PCIE", "PCI", "ROOT_PORT", "UPSTREAM", "DOWNSTREAM", "PCIE_PCI_BRIDGE", "PCI_PCIE_BRIDGE",
              "RCiEP", "RCEC")

Field = tuple[str, int, int, Any]                 # (member, first bit, bits, how)
Register = tuple[str, int, int, tuple[Field, ...]]  # (member, byte offset, bytes, fields)


def _flags(names_bits: tuple[tuple[str, int], ...], how: Any) -> tuple[Field, ...]:
    return tuple((n, b, 1, how) for n, b in names_bits)


CAP_V1: tuple[Register, ...] = (
    ("pcie_capability_header", 0, 2, (("capability_id", 0, 8, RAW), ("next_capability_pointer", 8, 8, int))),
    ("pcie_capabilities", 2, 2, (("capability_version", 0, 4, int), ("device_port_type", 4, 4, PORTS),
                                 ("slot_implemented", 8, 1, bool), ("interrupt_message_number", 9, 5, int),
                                 ("flit_mode_supported", 15, 1, SUPPORTED))),
    ("device_capabilities", 4, 4, (
        ("max_payload_size_supported", 0, 3, int), ("phantom_functions_supported", 3, 2, SUPPORTED),
        ("extended_tag_field_supported", 5, 1, SUPPORTED), ("endpoint_l0s_acceptable_latency", 6, 3, RAW),
        ("endpoint_l1_acceptable_latency", 9, 3, RAW), ("role_based_error_reporting", 15, 1, bool),
        ("err_cor_subclass_capable", 16, 1, bool), ("rx_mps_fixed", 17, 1, int),
        ("captured_slot_power_limit_value", 18, 8, int), ("captured_slot_power_limit_scale", 26, 2, int),
        ("function_level_reset_capability_supported", 28, 1, SUPPORTED),
        ("mixed_mps_supported", 29, 1, SUPPORTED), ("tee_io_supported", 30, 1, SUPPORTED))),
    ("device_control", 8, 2, _flags((("correctable_error_reporting_enable", 0),
                                     ("non_fatal_error_reporting_enable", 1), ("fatal_error_reporting_enable", 2),
                                     ("unsupported_request_reporting_enabled", 3),
                                     ("relaxed_ordering_enable", 4)), ENABLED)
     + (("max_payload_size", 5, 3, int),)
     + _flags((("extended_tag_field_enable", 8), ("phantom_functions_enable", 9), ("aux_power_pm_enable", 10)),
              ENABLED)
     + (("enable_no_snoop", 11, 1, int), ("max_read_request_size", 12, 3, int),
        ("function_level_reset", 15, 1, bool))),
    ("device_status", 10, 2, _flags((("correctable_error_detected", 0), ("non_fatal_error_detected", 1),
                                     ("fatal_error_detected", 2), ("unsupported_request_detected", 3),
                                     ("aux_power_detected", 4), ("transactions_pending", 5)), bool)
     + (("emergency_power_reduction", 6, 2, int),)),
    ("link_capabilities", 12, 4, (
        ("max_link_speed", 0, 4, int), ("maximum_link_width", 4, 6, int), ("aspm_support", 10, 2, int),
        ("l0s_exit_latency", 12, 3, int), ("l1_exit_latency", 15, 3, int))
     + _flags((("clock_power_management", 18), ("surprise_down_error_reporting_capable", 19),
               ("data_link_layer_link_active_reporting_capable", 20),
               ("link_bandwidth_notification_capability", 21), ("aspm_optionality_compliance", 22)), bool)
     + (("port_number", 24, 8, int),)),
    ("link_control", 16, 2, (("aspm_control", 0, 2, int), ("ptm_prop_delay_adaptation_interpretation", 2, 1, bool),
                             ("link_disable", 4, 1, int), ("retrain_link", 5, 1, int),
                             ("extended_synch", 7, 1, int), ("sris_clocking", 12, 1, int),
                             ("flit_mode_disable", 13, 1, int))),
    ("link_status", 18, 2, (("current_link_speed", 0, 4, int), ("negotiated_link_width", 4, 6, int),
                            ("link_training", 11, 1, int))),
    ("slot_capabilities", 20, 4, (("slot_power_limit_value", 7, 8, RAW), ("slot_power_limit_scale", 15, 2, int),
                                  ("physical_slot_number", 19, 13, int))),
    ("slot_control", 24, 2, (("attention_indicator_control", 6, 2, int), ("power_indicator_control", 8, 2, int),
                             ("rsvdp", 15, 1, int))),
    ("slot_status", 26, 2, (("mrl_sensor_changed", 2, 1, int), ("command_completed", 4, 1, int),
                            ("mrl_sensor_state", 5, 1, int))),
    ("root_control", 28, 2, ()),
    ("root_capabilities", 30, 2, ()),
    ("root_status", 32, 4, (("pme_requester_id", 0, 16, int), ("pme_status", 16, 1, int),
                            ("pme_pending", 17, 1, int))),
)

CAP_V2: tuple[Register, ...] = (
    ("device_capabilities2", 36, 4, (("completion_timeout_ranges_supported", 0, 4, int),)
     + _flags((("completion_timeout_disable_supported", 4), ("ari_forwarding_supported", 5),
               ("atomic_op_routing_supported", 6), ("_32_bit_atomicop_completer_supported", 7),
               ("_64_bit_atomicop_completer_supported", 8), ("_128_bit_cas_completer_supported", 9)), SUPPORTED)
     + (("no_ro_enabled_pr_pr_passing", 10, 1, PASSING), ("ltr_mechanism_supported", 11, 1, SUPPORTED),
        ("tph_completer_supported", 12, 2, SUPPORTED), ("obff_supported", 18, 2, SUPPORTED),
        ("max_end_end_tlp_prefixes", 22, 2, RAW), ("emergency_power_reduction_supported", 24, 2, SUPPORTED),
        ("dmwr_lengths_supported", 29, 2, int))),
    ("device_control2", 40, 2, (("completion_timeout_value", 0, 4, int),)
     + _flags((("ari_forwarding_enable", 5), ("atomicop_requester_enable", 6), ("atomicop_egress_blocking", 7),
               ("ido_request_enable", 8), ("ido_completion_enable", 9), ("ltr_mechanism_enable", 10),
               ("emergency_power_reduction_request", 11), ("10_bit_tag_requester_enable", 12)), bool)
     + (("obff_enable", 13, 2, int),)),
    ("device_status2", 42, 2, ()),
    ("link_capabilities2", 44, 8, (     # libcper's 8-byte layout (module docstring)
        ("supported_link_speeds", 8, 7, int), ("crosslink_supported", 40, 1, SUPPORTED),
        ("lower_skp_os_generation_supported", 41, 7, int), ("lower_skp_os_reception_supported", 48, 7, int),
        ("retimer_presence_detect_supported", 55, 1, SUPPORTED),
        ("two_retimers_presence_detect_supported", 56, 1, SUPPORTED), ("drs_supported", 63, 1, SUPPORTED))),
    ("link_control2", 52, 2, (("target_link_speed", 0, 4, RAW), ("enter_compliance", 4, 1, SUPPORTED),
                              ("hardware_autonomous_speed_disable", 5, 1, RAW),
                              ("selectable_de_emphasis", 6, 1, bool), ("transmit_margin", 7, 3, int),
                              ("enter_modified_compliance", 10, 1, bool), ("compliance_sos", 11, 1, bool),
                              ("compliance_preset_de_emphasis", 12, 4, int))),
    ("link_status2", 54, 2, (("current_de_emphasis_level", 0, 1, int),)
     + _flags((("equalization_8gts_complete", 1), ("equalization_8gts_phase1_successful", 2),
               ("equalization_8gts_phase2_successful", 3), ("equalization_8gts_phase3_successful", 4),
               ("link_equalization_request_8gts", 5), ("retimer_presence_detected", 6),
               ("two_retimers_presence_detected", 7)), bool)
     + (("crosslink_resolution", 8, 2, int), ("flit_mode_status", 10, 1, int),
        ("downstream_component_presence", 12, 3, int), ("drs_message_received", 15, 1, bool))),
    ("slot_capabilities2", 56, 4, ()),
    ("slot_control2", 60, 0, ()),     # past the 60 bytes: libcper shows no member
    ("slot_status2", 60, 0, ()),
)

# the uncorrectable errors of AER's status, mask and severity registers, by bit
UNCOR = (("data_link_protocol_error", 4), ("surprise_down_error", 5), ("poisoned_tlp_received", 12),
         ("flow_control_protocol_error", 13), ("completion_timeout", 14), ("completer_abort", 15),
         ("unexpected_completion", 16), ("receiver_overflow", 17), ("malformed_tlp", 18), ("ecrc_error", 19),
         ("unsupported_request_error", 20), ("acs_violation", 21), ("uncorrectable_internal_error", 22),
         ("mc_blocked_tlp", 23), ("atomicop_egress_blocked", 24), ("tlp_prefix_blocked_error", 25),
         ("poisoned_tlp_egress_blocked", 26), ("dmwr_request_egress_blocked", 27), ("ide_check_failed", 28),
         ("misrouted_ide_tlp", 29), ("pcrc_check_failed", 30), ("tlp_translation_egress_blocked", 31))
COR = (("receiver_error", 0), ("bad_tlp", 6), ("bad_dllp", 7), ("replay_num_rollover", 8),
       ("replay_timer_timeout", 12), ("advisory_non_fatal_error", 13), ("corrected_internal_error", 14),
       ("header_log_overflow", 15))


def _status_name(n: str) -> str:
    # libcper names one status bit without the suffix
    return n if n == "poisoned_tlp_received" else f"{n}_status"


AER: tuple[Register, ...] = (
    ("capability_header", 0, 4, (("capability_id", 0, 16, int), ("capability_version", 16, 4, int),
                                 ("next_capability_offset", 20, 12, int))),
    ("uncorrectable_error_status", 4, 4, tuple((_status_name(n), b, 1, bool) for n, b in UNCOR)),
    ("uncorrectable_error_mask", 8, 4, tuple((f"{n}_mask", b, 1, int) for n, b in UNCOR)),
    ("uncorrectable_error_severity", 12, 4, tuple((f"{n}_severity", b, 1, SEVERITY) for n, b in UNCOR)),
    ("correctable_error_status", 16, 4, tuple((f"{n}_status", b, 1, bool) for n, b in COR)),
    ("correctable_error_mask", 20, 4, tuple((f"{n}_mask", b, 1, int) for n, b in COR)),
    ("advanced_error_capabilities_and_control", 24, 4, (("first_error_pointer", 0, 5, int),
                                                        ("header_log_size", 13, 5, int),
                                                        ("logged_tlp_size", 19, 5, int))),
    ("root_error_command", 44, 4, ()),
    ("root_error_status", 48, 4, (("err_cor_subclass", 7, 2, int),     # libcper's bits (docstring)
                                  ("advanced_error_interrupt_message_number", 25, 5, int))),
    ("error_source_id", 52, 4, (("err_cor_source_identification", 0, 16, int),
                                ("err_fatal_nonfatal_source_identification", 16, 16, int))),
)


def _value(v: int, how: Any) -> Any:
    if how is int:
        return v
    if how is bool:
        return bool(v)
    if how == RAW:
        return {"raw": v}
    if how == PORTS:
        return {"raw": v, "value": PORT_NAMES[v]} if v < len(PORT_NAMES) else {"raw": v}
    return how[1] if v else how[0]


def registers_json(data: bytes, regs: tuple[Register, ...]) -> dict:
    """Each register of `regs` as libcper writes it: an object of its fields."""
    out: dict = {}
    for reg, off, size, fields in regs:
        w = int.from_bytes(data[off:off + size], "little")
        out[reg] = {n: _value(w >> first & ((1 << bits) - 1), how) for n, first, bits, how in fields}
    return out


def capability_json(cap: bytes) -> dict:
    """The capability structure's breakdown (without `data`)."""
    version = cap[2] & 0xF
    return registers_json(cap, CAP_V1 + (CAP_V2 if version >= 2 else ()))


def aer_json(aer: bytes) -> dict:
    """The AER block's breakdown (without `data`)."""
    return registers_json(aer, AER)
