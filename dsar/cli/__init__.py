"""The ``dsar`` command line: one module per command group over shared output helpers.

Other packages import these names from here; modules inside import each other directly.
"""

from dsar.cli.db import db_app
from dsar.cli.root import app

__all__ = [
    "app",
    "db_app",
]
