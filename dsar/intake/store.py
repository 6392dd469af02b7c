"""Turning an accepted delivery into a stored request — once, however often it is delivered.

Senders retry: the website when a response is slow, Shopify for up to 48 hours. Each delivery
therefore carries a key (``webhook:<Idempotency-Key>``, ``shopify:<X-Shopify-Webhook-Id>``,
``page:<form nonce>``, or a hash of the signature) that becomes the request's
``idempotency_key``. A repeat finds the stored request and receives the response the first
delivery received, kept in ``details["intake"]``; a repeat whose body differs is a conflict.

The request is committed before the sender hears "accepted": the statutory clock runs from
receipt (EDPB 01/2022 §159), so an accepted request must survive a crash that follows.

Every intake transaction opens through :func:`write_session`. On SQLite each transaction takes
the database's single write lock up front (``BEGIN IMMEDIATE``), and threads that find it taken
sleep in SQLite's busy handler for growing intervals, waking in no order: a burst of posts then
has a long tail of requests that lost every race. The intake's threads therefore queue on one
process-wide lock first and meet SQLite's lock one at a time. PostgreSQL locks rows, not the
database, and its writers run side by side.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from dsar.audit import append_event
from dsar.enums import Channel, RequestKind
from dsar.errors import InputError, RegisterError
from dsar.intake.classifier import classify
from dsar.intake.forms import problems, validate_form
from dsar.intake.guard import IntakeRejection
from dsar.intake.language import detect_language
from dsar.models import AuditEvent, Request, RequestCreate
from dsar.register import Register, explicit_register, register_for, served_controllers
from dsar.service import submit_request
from dsar.store import engine_from_settings, session_scope

ACTOR_CONTACT_FORM = "intake:contact-form"
ACTOR_PAGE = "intake:web-page"
ACTOR_SHOPIFY = "intake:shopify"

#: How a request from Shopify's compliance webhooks counts as verified (EDPB 01/2022 §§65-79:
#: the shop authenticated its customer; Shopify signs the delivery).
SHOPIFY_VERIFIED_BY = "Shopify compliance webhook"

SHOPIFY_ACCESS = "customers/data_request"
SHOPIFY_ERASURE = "customers/redact"
SHOPIFY_SHOP_REDACT = "shop/redact"
SHOPIFY_TOPICS: dict[str, RequestKind] = {
    SHOPIFY_ACCESS: RequestKind.ACCESS,
    SHOPIFY_ERASURE: RequestKind.ERASURE,
}

_SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)+")


@dataclass(frozen=True)
class Receipt:
    """What a delivery came to: the response body, and whether processing should start now.

    ``start`` is false for a repeat (the first delivery started it) and for a request whose
    kind was guessed unsure from free text: staff confirm the kind before anything changes.
    """

    body: dict[str, Any]
    request_id: str | None = None
    start: bool = False


# --------------------------------------------------------------------------------------------
# Which register
# --------------------------------------------------------------------------------------------


def resolve_register(controller: str | None) -> Register:
    """The register named by ``controller``, or the only one served; 422 otherwise."""
    if controller is None:
        explicit = explicit_register()
        if explicit is not None:
            return explicit
        served = served_controllers()
        if len(served) != 1:
            raise IntakeRejection(
                422,
                "invalid_fields",
                [
                    {
                        "field": "controller",
                        "message": "this service serves several registers; "
                        f"name one of: {', '.join(sorted(served)) or 'none'}",
                    }
                ],
            )
        controller = next(iter(served))
    try:
        return register_for(controller)
    except RegisterError:
        raise
    except InputError as exc:
        raise IntakeRejection(
            422, "invalid_fields", [{"field": "controller", "message": "unknown controller"}]
        ) from exc


# --------------------------------------------------------------------------------------------
# Repeats
# --------------------------------------------------------------------------------------------


def _conflict() -> IntakeRejection:
    return IntakeRejection(
        409,
        "idempotency_conflict",
        "this delivery key was already used for a different body; use a new key",
    )


def find_repeat(session: Session, *, key: str, digest: str) -> Receipt | None:
    """The first delivery's receipt when ``key`` was seen with the same body; 409 if not."""
    stored = session.exec(select(Request).where(Request.idempotency_key == key)).first()
    if stored is None:
        return None
    intake = stored.details.get("intake") or {}
    if intake.get("body_sha256") != digest:
        raise _conflict()
    return Receipt(body=dict(intake.get("response") or response_body(stored)))


def response_body(request: Request) -> dict[str, Any]:
    """The 202/200 body of an accepted request: no identities, only what the sender may keep."""
    return {
        "id": request.id,
        "status": request.status.value,
        "due_date": request.due_date.isoformat(),
        "regime": request.regime.value,
    }


def _store(
    session: Session,
    *,
    create: RequestCreate,
    register: Register,
    actor: str,
    digest: str,
) -> tuple[Request, dict[str, Any]]:
    try:
        request, _ = submit_request(session, create=create, register=register, actor=actor)
    except InputError as exc:  # e.g. an opt-out under a law that knows none
        raise IntakeRejection(
            422, "invalid_fields", [{"field": "kind", "message": str(exc)}]
        ) from exc
    body = response_body(request)
    request.details = {**request.details, "intake": {"body_sha256": digest, "response": body}}
    session.add(request)
    return request, body


_SQLITE_WRITERS = threading.Lock()
_T = TypeVar("_T")


@contextmanager
def write_session(engine: Engine | None = None) -> Iterator[Session]:
    """A :func:`~dsar.store.engine.session_scope` for the intake; on SQLite, one at a time
    per process.

    The lock is held until the transaction has committed or rolled back, so the next writer
    never meets SQLite's lock held by this process. Other processes (flow workers, the CLI)
    still meet it through SQLite's busy timeout.
    """
    bound = engine or engine_from_settings()
    turn: AbstractContextManager[Any] = (
        _SQLITE_WRITERS if bound.dialect.name == "sqlite" else nullcontext()
    )
    with turn, session_scope(bound) as session:
        yield session


def once(engine: Engine | None, work: Callable[[Session], _T]) -> _T:
    """Run ``work`` in one transaction; a concurrent twin that committed first wins.

    Two deliveries of the same key racing past the repeat check (from two processes, or on
    PostgreSQL) collide on the unique ``idempotency_key``; the loser runs again and now finds
    the winner's request.
    """
    try:
        with write_session(engine) as session:
            return work(session)
    except IntegrityError:
        with write_session(engine) as session:
            return work(session)


# --------------------------------------------------------------------------------------------
# Contact form and request page
# --------------------------------------------------------------------------------------------


def submit_contact(
    session: Session,
    *,
    fields: dict[str, Any],
    key: str,
    digest: str,
    channel: Channel,
    actor: str,
) -> Receipt:
    """Validate and store a request from the contact form or the request page.

    A message without a kind is classified; the guess and whether it is sure are stored in
    ``details["classification"]`` and recorded in the audit trail, and an unsure guess waits
    for staff (Art. 12(2): the request counts from receipt even while its kind is unclear).
    """
    repeat = find_repeat(session, key=key, digest=digest)
    if repeat is not None:
        return repeat
    form = validate_form(fields)
    register = resolve_register(form.controller)
    details: dict[str, Any] = {}
    if form.message:
        details["message"] = form.message
    if form.order_number:
        details["order_number"] = form.order_number
    if form.corrections:
        details["changes"] = form.corrections
    kind = form.kind
    guess = None
    if kind is None:
        guess = classify(form.message or "")
        kind = guess.kind
        details["classification"] = guess.as_details()
    try:
        create = RequestCreate(
            controller=register.controller.key,
            kind=kind,
            channel=channel,
            language=form.language
            or detect_language(form.message or "")
            or register.controller.default_language,
            email=form.email,
            name=form.name,
            idempotency_key=key,
            details=details,
        )
    except ValidationError as exc:
        raise IntakeRejection(422, "invalid_fields", problems(exc)) from exc
    request, body = _store(session, create=create, register=register, actor=actor, digest=digest)
    if guess is not None:
        append_event(
            session,
            action="kind_classified",
            actor=actor,
            request_id=request.id,
            data=guess.as_details(),
        )
    return Receipt(body=body, request_id=request.id, start=guess is None or guess.confident)


# --------------------------------------------------------------------------------------------
# Shopify compliance webhooks
# --------------------------------------------------------------------------------------------


class ShopifyCustomer(BaseModel):
    """The customer of a ``customers/*`` compliance webhook."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    id: str
    email: str | None = None
    phone: str | None = None


class ShopifyPayload(BaseModel):
    """A compliance webhook's body (processor-apis.md; shopify.dev "privacy law compliance")."""

    model_config = ConfigDict(extra="ignore")

    shop_id: int
    shop_domain: str
    customer: ShopifyCustomer | None = None
    orders_requested: list[int] = []
    orders_to_redact: list[int] = []
    data_request: dict[str, Any] | None = None


def _shopify_payload(data: dict[str, Any]) -> ShopifyPayload:
    try:
        return ShopifyPayload.model_validate(data)
    except ValidationError as exc:
        raise IntakeRejection(422, "invalid_fields", problems(exc)) from exc


def submit_shopify(
    session: Session,
    *,
    topic: str,
    data: dict[str, Any],
    key: str,
    digest: str,
    controller: str | None,
) -> Receipt:
    """Store a ``customers/data_request`` (access) or ``customers/redact`` (erasure) request.

    The channel authenticated the customer, so the request is verified at once with the
    reason recorded and no e-mail challenge follows; the Shopify customer id is kept for the
    connectors to key on.
    """
    kind = SHOPIFY_TOPICS.get(topic)
    if kind is None:
        raise IntakeRejection(422, "unsupported_topic", "not a Shopify compliance topic")
    repeat = find_repeat(session, key=key, digest=digest)
    if repeat is not None:
        return repeat
    payload = _shopify_payload(data)
    customer = payload.customer
    if customer is None or not customer.email:
        raise IntakeRejection(
            422,
            "invalid_fields",
            [
                {
                    "field": "customer.email",
                    "message": "the customer has no e-mail address; enter the request by staff",
                }
            ],
        )
    register = resolve_register(controller)
    shopify: dict[str, Any] = {
        "topic": topic,
        "shop_id": payload.shop_id,
        "shop_domain": payload.shop_domain,
    }
    if kind is RequestKind.ACCESS:
        shopify["orders_requested"] = payload.orders_requested
        if payload.data_request and "id" in payload.data_request:
            shopify["data_request_id"] = str(payload.data_request["id"])
    else:
        shopify["orders_to_redact"] = payload.orders_to_redact
    try:
        create = RequestCreate(
            controller=register.controller.key,
            kind=kind,
            channel=Channel.SHOPIFY_WEBHOOK,
            language=register.controller.default_language,
            email=customer.email,
            phone=customer.phone or None,
            customer_id=customer.id,
            verified_by=SHOPIFY_VERIFIED_BY,
            idempotency_key=key,
            details={"shopify": shopify},
        )
    except ValidationError as exc:
        raise IntakeRejection(422, "invalid_fields", problems(exc)) from exc
    request, body = _store(
        session, create=create, register=register, actor=ACTOR_SHOPIFY, digest=digest
    )
    return Receipt(body=body, request_id=request.id, start=True)


def record_shop_redact(session: Session, *, data: dict[str, Any], key: str) -> Receipt:
    """Record ``shop/redact`` as an audit event; create no subject request.

    Shopify sends it 48 hours after a shop uninstalled the app, asking for that shop's data to
    be erased. It names no data subject, so there is no request to answer and no deadline to
    keep: the controller's own retention rules govern what the engine still holds for the shop.
    The event (shop id and domain, no personal data) shows the notice arrived and when.
    """
    payload = _shopify_payload(data)
    if not _SHOP_DOMAIN.fullmatch(payload.shop_domain):
        raise IntakeRejection(
            422, "invalid_fields", [{"field": "shop_domain", "message": "not a shop domain"}]
        )
    body = {"status": "accepted", "shop_id": payload.shop_id}
    delivery = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    for seen in session.exec(select(AuditEvent).where(AuditEvent.action == "shop_redact_received")):
        if seen.data.get("delivery") == delivery:
            return Receipt(body=body)
    append_event(
        session,
        action="shop_redact_received",
        actor=ACTOR_SHOPIFY,
        data={
            "shop_id": payload.shop_id,
            "shop_domain": payload.shop_domain,
            "delivery": delivery,
        },
    )
    return Receipt(body=body)
