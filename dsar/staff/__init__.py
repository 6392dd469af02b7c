"""The console for support staff under ``/staff``: an edge onto the engine, like the intake.

Other packages import these names from here; modules inside import each other directly.
"""

from dsar.staff.app import install

__all__ = ["install"]
