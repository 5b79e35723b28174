"""Subcommand modules, in the order `fwemu --help` lists them."""

from . import boards, control, daemon, hest, inject, qemu, record

COMMAND_MODULES = [inject, control, daemon, record, boards, hest, qemu]
