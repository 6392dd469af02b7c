"""Processing registers: parsing and checking them, and the one cached lookup by controller.

Other packages import these names from here; modules inside import each other directly.
"""

from dsar.register.catalogue import (
    explicit_register,
    register_for,
    registers_dir,
    served_controllers,
)
from dsar.register.completeness import missing_translations
from dsar.register.model import Recipient, Register, RetentionException
from dsar.register.parse import discover_registers, load_register, parse_register
from dsar.register.translated import Translated
from dsar.register.values import EEA_COUNTRIES, KNOWN_CONNECTORS, parse_duration

__all__ = [
    "EEA_COUNTRIES",
    "KNOWN_CONNECTORS",
    "Recipient",
    "Register",
    "RetentionException",
    "Translated",
    "discover_registers",
    "explicit_register",
    "load_register",
    "missing_translations",
    "parse_duration",
    "parse_register",
    "register_for",
    "registers_dir",
    "served_controllers",
]
