"""Processing registers: parsing and checking them, and the one cached lookup by controller.

Other packages import these names from here; modules inside import each other directly.
"""

from dsar.register.catalogue import register_for, registers_dir
from dsar.register.model import (
    EEA_COUNTRIES,
    KNOWN_CONNECTORS,
    Recipient,
    Register,
    RetentionException,
    discover_registers,
    load_register,
    parse_duration,
    parse_register,
)

__all__ = [
    "EEA_COUNTRIES",
    "KNOWN_CONNECTORS",
    "Recipient",
    "Register",
    "RetentionException",
    "discover_registers",
    "load_register",
    "parse_duration",
    "parse_register",
    "register_for",
    "registers_dir",
]
