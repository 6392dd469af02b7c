"""The messages a request's flow sends: to the subject, and to recipients on its behalf.

* Mail to the subject (verification challenge, answer, notice of lifting a restriction),
  rendered in the request's language (:func:`send_to_subject`).
* Art. 19 notices to recipients without an API, by e-mail to their privacy contact or as a
  signed webhook (``X-DSAR-Signature``) to their endpoint, as the register names
  (:func:`notify_manual_step`).
* Art. 20(2) transmission of the portable data straight to another controller
  (:func:`transmit_portability`).

Each is recorded as a :class:`~dsar.models.Notice` before and after delivery, so a repeated
run never sends twice (:mod:`dsar.notify.send`).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from connectors.errors import ConnectorError
from dsar import lifecycle
from dsar.enums import NoticeStatus, RequestKind, StepStatus
from dsar.errors import NotFoundError
from dsar.models import Notice, Request, Step
from dsar.register import Register
from dsar.settings import get_settings
from dsar.store import session_scope
from engine.context import ACTOR, Loaded, load, webhook_secret_of_notice

#: What an Art. 19 notice asks of a recipient, by request kind.
ART19_ACTION: dict[RequestKind, str] = {
    RequestKind.RECTIFICATION: "rectify",
    RequestKind.ERASURE: "erase",
    RequestKind.RESTRICTION: "restrict",
    RequestKind.OBJECTION: "stop_marketing",
    RequestKind.OPT_OUT: "stop_marketing",
    RequestKind.LIMIT_SENSITIVE: "restrict",
}


def _mailer() -> Any:
    from dsar.notify import mailer_from_settings

    return mailer_from_settings(get_settings())


def _base_context(request: Request, register: Register) -> dict[str, Any]:
    return {
        "controller": register.controller,
        "reference": request.id,
        "regime": request.regime.value,
        "kind": request.kind.value,
    }


def send_to_subject(
    request_id: str, *, purpose: str, template: str, to: str, context: dict[str, Any]
) -> None:
    """Render ``template`` for the request's subject and send it once per ``purpose``."""
    from dsar.notify import render, send_notice

    loaded = load(request_id)
    ctx = {**_base_context(loaded.request, loaded.register), **context}
    subject, body = render(template, loaded.request.language, **ctx)
    with session_scope() as session:
        send_notice(
            session,
            request_id=request_id,
            recipient="subject",
            purpose=purpose,
            to=to,
            subject=subject,
            body=body,
            mailer=_mailer(),
            commit=True,
        )


async def notify_manual_step(step_id: str) -> str:
    """Send the Art. 19 notice of a manual step to its recipient and leave the task to staff.

    The register names the channel: e-mail to the recipient's privacy contact, or a signed
    webhook (``X-DSAR-Signature``) to its endpoint. Either way the Notice row is recorded
    before and after the delivery.
    """
    from dsar.notify import render, send_notice

    with session_scope() as session:
        step = session.get(Step, step_id)
        if step is None:
            raise NotFoundError(f"no step with id {step_id!r}")
        if step.status not in (StepStatus.PLANNED, StepStatus.RUNNING) or step.action == "decide":
            return step.status.value  # a decision step sends nothing until staff decide
    loaded = load(step.request_id)
    recipient = loaded.register.recipient(step.recipient)
    categories = [loaded.register.category(c).name for c in step.categories]
    if recipient.notice.channel == "webhook":
        notice_id, status = await _notify_by_webhook(loaded, recipient.key, categories)
    else:
        ctx = {
            **_base_context(loaded.request, loaded.register),
            "action": ART19_ACTION[loaded.request.kind],
            "categories": categories,
            "recipient_name": recipient.name,
            "subject_email": loaded.request.email,
            "changes": loaded.request.details.get("changes", {}),
        }
        subject, body = render("art19", "en", **ctx)
        with session_scope() as session:
            notice = send_notice(
                session,
                request_id=step.request_id,
                recipient=recipient.key,
                purpose="art19",
                to=recipient.notice.address,
                subject=subject,
                body=body,
                mailer=_mailer(),
                commit=True,
            )
            notice_id, status = notice.id, notice.status
    with session_scope() as session:
        stored = session.get(Step, step_id)
        assert stored is not None  # noqa: S101
        lifecycle.move_step(stored, StepStatus.PENDING)
        stored.external_ref = f"notice:{notice_id}"
        stored.result = {"notice": status}
        session.add(stored)
    return StepStatus.PENDING.value


async def _notify_by_webhook(
    loaded: Loaded, recipient_key: str, categories: list[str]
) -> tuple[str, str]:
    """Deliver an Art. 19 notice as a signed JSON webhook; returns (notice id, status)."""
    from dsar.notify import art19_webhook_payload, claim_notice

    request, register = loaded.request, loaded.register
    recipient = register.recipient(recipient_key)
    with session_scope() as session:
        notice = claim_notice(
            session,
            request_id=request.id,
            recipient=recipient.key,
            purpose="art19",
            channel="webhook",
        )
        if notice.status is NoticeStatus.SENT:
            return notice.id, notice.status
        notice_id = notice.id
    payload = art19_webhook_payload(
        notice_id=notice_id,
        reference=request.id,
        kind=request.kind.value,
        action=ART19_ACTION[request.kind],
        categories=categories,
        subject_email=request.email,
        controller=register.controller.name,
        changes=request.details.get("changes", {}),
    )
    status = await _post_for_notice(
        notice_id, recipient.notice.address, payload, idempotency_key=f"art19:{notice_id}"
    )
    return notice_id, status


async def _post_for_notice(
    notice_id: str, url: str, payload: dict[str, Any], *, idempotency_key: str
) -> str:
    """POST a recorded notice as a signed webhook and record the outcome: ``sent``, or
    ``failed`` with the error, which is raised again for the caller to decide."""
    from connectors.webhook import post_signed
    from dsar.notify import mark_failed, mark_sent

    try:
        reference = await post_signed(
            url,
            payload,
            secret=webhook_secret_of_notice(notice_id),
            idempotency_key=idempotency_key,
        )
    except ConnectorError as exc:
        with session_scope() as session:
            stored = session.get(Notice, notice_id)
            assert stored is not None  # noqa: S101
            mark_failed(session, notice=stored, error=str(exc))
        raise
    with session_scope() as session:
        stored = session.get(Notice, notice_id)
        assert stored is not None  # noqa: S101
        mark_sent(session, notice=stored, message_id=reference, actor=ACTOR)
        return stored.status


async def transmit_portability(request_id: str) -> str | None:
    """Art. 20(2): send the portable data straight to the controller the subject named.

    Only to an ``https`` URL (plain ``http`` on loopback, for tests) given in the request
    (``details["transmit_to"]``), and only once the package exists, so after identity
    verification. Recorded as a Notice; sent once.
    """
    import json
    import zipfile

    from dsar.models import Export
    from dsar.notify import claim_notice

    loaded = load(request_id)
    target = str(loaded.request.details.get("transmit_to") or "")
    local = target.startswith(("http://127.0.0.1", "http://localhost"))
    if loaded.request.kind is not RequestKind.PORTABILITY or not (
        target.startswith("https://") or local
    ):
        return None
    with session_scope() as session:
        export = session.exec(
            select(Export).where(Export.request_id == request_id).order_by(col(Export.created_at))
        ).first()
        if export is None:
            return None
        notice = claim_notice(
            session,
            request_id=request_id,
            recipient="transmission",
            purpose="portability",
            channel="webhook",
        )
        if notice.status is NoticeStatus.SENT:
            return notice.status
        notice_id, path = notice.id, export.path
    with zipfile.ZipFile(path) as package:
        data = json.loads(package.read("data.json"))
    try:
        return await _post_for_notice(
            notice_id,
            target,
            {"type": "dsar.portability", "reference": request_id, "data": data},
            idempotency_key=f"portability:{notice_id}",
        )
    except ConnectorError:
        return "failed"
