"""What every step function starts from: the stored request, and the processors to talk to.

A step reads its request and the controller's register in one short transaction
(:func:`load`), and reaches a processor through the connector built once per event loop
(:func:`connector_for`), keyed on every identity the request carries (:func:`subject_of`).
The step modules of :mod:`flows` share these, and :data:`ACTOR`, the name the audit trail
gives their work.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from connectors.base import Connector, Subject
from dsar.errors import NotFoundError
from dsar.models import Request
from dsar.register import Register, register_for
from dsar.settings import get_settings
from dsar.store import session_scope

#: Actor name written into the audit trail for work done by flows.
ACTOR = "flow"


# ------------------------------------------------------------------------------------------
# Connectors, cached per event loop (their HTTP clients and rate limiters belong to one loop)
# ------------------------------------------------------------------------------------------

_connectors: dict[tuple[int, str], Connector] = {}


def connector_for(name: str) -> Connector:
    """The process's connector for ``name`` on the running loop, built from settings once."""
    from connectors.registry import build_connector

    key = (id(asyncio.get_running_loop()), name)
    if key not in _connectors:
        _connectors[key] = build_connector(name, get_settings())
    return _connectors[key]


async def close_connectors() -> None:
    """Close the connectors of the running loop (end of a flow run or of ``dsar run``)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [k for k in _connectors if k[0] == loop_id]:
        await _connectors.pop(key).aclose()


def subject_of(request: Request) -> Subject:
    """Every identity the request carries, for the connectors to key on."""
    ids = {"shopify": request.customer_id} if request.customer_id else {}
    return Subject(
        emails=(request.email,),
        phones=(request.phone,) if request.phone else (),
        customer_ids=ids,
        name=request.name,
    )


# ------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """A request with its register, read in one short transaction."""

    request: Request
    register: Register


def load(request_id: str) -> Loaded:
    """The request and its controller's register."""
    with session_scope() as session:
        request = session.get(Request, request_id)
        if request is None:
            raise NotFoundError(f"no request with id {request_id!r}")
    return Loaded(request=request, register=register_for(request.controller))
