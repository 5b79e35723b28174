"""Subcommand modules, in the order `fwemu --help` lists them."""

from . import record

COMMAND_MODULES = [record]
