"""What every step function starts from: the stored request, and the processors to talk to.

A step reads its request and the controller's register in one short transaction
(:func:`load`), and reaches a processor through the connector built once per event loop and
controller from that controller's own settings (:func:`connector_for`), keyed on every
identity the request carries (:func:`subject_of`).
The step modules of :mod:`flows` share these, and :data:`ACTOR`, the name the audit trail
gives their work.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from connectors.base import Connector, Subject
from dsar.errors import NotFoundError
from dsar.logging import get_logger
from dsar.models import Notice, Request
from dsar.register import Register, register_for, served_controllers
from dsar.settings import ControllerSettings, get_settings
from dsar.store import session_scope

#: Actor name written into the audit trail for work done by flows.
ACTOR = "flow"

log = get_logger("dsar.flows")


# ------------------------------------------------------------------------------------------
# Connectors, cached per event loop (their HTTP clients and rate limiters belong to one loop)
# ------------------------------------------------------------------------------------------

_connectors: dict[tuple[int, str, str], Connector] = {}


def controller_settings(controller: str) -> ControllerSettings:
    """The settings ``controller`` works with, among the controllers this installation serves."""
    return get_settings().for_controller(controller, served_controllers())


def connector_for(controller: str, name: str, *, recipient: str | None = None) -> Connector:
    """``controller``'s connector for ``name`` on the running loop, built once from that
    controller's settings: two shops never share a connector, a token or a rate limiter.

    A credential the controller lacks raises
    :class:`~connectors.registry.MissingCredential` (a permanent error, so the step fails),
    naming the controller, the ``recipient`` being served and the variable to set.
    """
    from connectors.registry import MissingCredential, build_connector

    key = (id(asyncio.get_running_loop()), controller, name)
    if key not in _connectors:
        try:
            _connectors[key] = build_connector(name, controller_settings(controller))
        except MissingCredential as exc:
            log.warning("connector_unconfigured", controller=controller, connector=name)
            if recipient is None:
                raise
            raise MissingCredential(
                f"recipient {recipient!r}: {exc.detail}", processor=exc.processor
            ) from exc
    return _connectors[key]


def webhook_secret_of_notice(notice_id: str) -> str:
    """The webhook secret of the controller on whose behalf a recorded notice is sent."""
    with session_scope() as session:
        notice = session.get(Notice, notice_id)
        request = None if notice is None else session.get(Request, notice.request_id)
        if request is None:
            raise NotFoundError(f"no request for notice {notice_id!r}")
        controller = request.controller
    return controller_settings(controller).value("webhook_secret") or ""


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
