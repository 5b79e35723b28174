"""Subcommand modules, in the order `fwemu --help` lists them."""

from . import boards, hest, inject, record

COMMAND_MODULES = [inject, record, boards, hest]
