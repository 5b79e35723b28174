"""Subcommand modules, in the order `fwemu --help` lists them."""

from . import boards, inject, record

COMMAND_MODULES = [inject, record, boards]
