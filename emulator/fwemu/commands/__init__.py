"""Subcommand modules, in the order `fwemu --help` lists them.

COMMANDS maps each command name to the module that registers it, so the CLI can import
only the module a command needs (start-up time is part of `fwemu inject`'s wall time).
"""

import importlib

MODULE_ORDER = ("inject", "campaign", "control", "daemon", "record", "journal", "report", "boards", "hest",
                "qemu", "tfa", "farm")
COMMANDS = {"inject": "inject", "campaign": "campaign", "status": "control", "reset": "control", "daemon": "daemon",
            "record": "record", "boards": "boards", "board": "boards", "hest": "hest",
            "journal": "journal", "report": "report", "qemu": "qemu", "tfa": "tfa", "farm": "farm"}


def modules(command: str | None = None):
    """The module for `command`, or every module (for help and unknown commands)."""
    names = [COMMANDS[command]] if command in COMMANDS else MODULE_ORDER
    return [importlib.import_module(f"{__name__}.{n}") for n in names]
