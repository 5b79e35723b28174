"""Subcommand modules, in the order `fwemu --help` lists them."""

from . import boards, control, daemon, hest, inject, record

COMMAND_MODULES = [inject, control, daemon, record, boards, hest]
