"""Storage: the database engine, sessions and the schema's migrations.

Other packages import these names from here; modules inside import each other directly.
"""

from dsar.store.connect import get_engine
from dsar.store.engine import (
    by_id_or_prefix,
    claim_step,
    engine_from_settings,
    init_db,
    session_scope,
)
from dsar.store.migrate import current, downgrade, head, revision, upgrade

__all__ = [
    "by_id_or_prefix",
    "claim_step",
    "current",
    "downgrade",
    "engine_from_settings",
    "get_engine",
    "head",
    "init_db",
    "revision",
    "session_scope",
    "upgrade",
]
