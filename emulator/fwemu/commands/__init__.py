"""Subcommand modules, in the order `fwemu --help` lists them."""

from . import boards, record

COMMAND_MODULES = [record, boards]
