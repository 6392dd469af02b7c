"""Answering the subject: what the answer reports, the package it links to, the closing.

Once every step has finished, :func:`finalize` tells the subject what was done — per kind,
from the stored steps: what was erased and what is kept on which ground, what is restricted,
which recipients were told (Art. 19 sentence 2) — builds the access or portability package
(Art. 15(3), 20(1)) with its download link, and closes the request. A request for which no
processor holds the address is answered "no data held" (:func:`answer_no_data`). Once
packaged, the copies of exported data leave the database (Art. 5(1)(c)).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dsar import lifecycle
from dsar.audit import append_event
from dsar.enums import RequestKind, RequestStatus, StepStatus
from dsar.evidence import Finding, in_language
from dsar.models import Request, utcnow
from dsar.plan import MANUAL, steps_of
from dsar.register import Register
from dsar.settings import get_settings
from dsar.store import session_scope
from engine.context import ACTOR, load
from engine.notices import send_to_subject
from engine.progress import open_manual_tasks, pending_steps, settle, step_rows
from engine.recipients import findings_of
from engine.retention import kept_items


def answer_no_data(request_id: str) -> None:
    """Close a request for which no processor holds the address: nothing to disclose or change."""
    send_to_subject(
        request_id,
        purpose="answer",
        template="answer_no_data",
        to=load(request_id).request.email,
        context={},
    )
    with session_scope() as session:
        request = session.get(Request, request_id)
        assert request is not None  # noqa: S101
        lifecycle.transition(
            session, request=request, target=RequestStatus.IN_PROGRESS, actor=ACTOR
        )
        lifecycle.transition(
            session,
            request=request,
            target=RequestStatus.COMPLETED,
            actor=ACTOR,
            reason="no personal data held under this address",
        )


def _export_results(request_id: str, register: Register) -> list[Any]:
    from dsar.export import ExportedRecord, SourceResult

    results = []
    with session_scope() as session:
        for step in steps_of(session, request_id):
            if step.action != "export":
                continue
            records = tuple(
                ExportedRecord(category=r["category"], source=r["source"], data=r["data"])
                for r in step.result.get("records", [])
            )
            status = {
                StepStatus.DONE: "exported" if records else "not_found",
            }.get(step.status, "failed")
            note = "; ".join(step.result.get("incomplete", []))
            results.append(
                SourceResult(recipient=step.recipient, status=status, records=records, note=note)
            )
    return results


def _forget_exported_records(request_id: str) -> None:
    """Once packaged, the copies of exported data leave the database (Art. 5(1)(c))."""
    with session_scope() as session:
        for step in steps_of(session, request_id):
            if step.action == "export" and "records" in step.result:
                step.result = {"count": step.result.get("count", 0)}
                session.add(step)


def finalize(request_id: str) -> RequestStatus:
    """Answer the subject and close the request once every step has finished.

    Returns the request's status: ``failed`` or ``awaiting_manual`` when it cannot close yet,
    ``in_progress`` while a processor's job is still pending (the deadline monitor polls it),
    ``completed`` after the answer went out.
    """
    status = settle(request_id)
    if status is RequestStatus.FAILED or status in lifecycle.FINAL:
        return status
    if open_manual_tasks(request_id):
        return RequestStatus.AWAITING_MANUAL
    if pending_steps(request_id):
        return RequestStatus.IN_PROGRESS
    loaded = load(request_id)
    request, register = loaded.request, loaded.register
    notified = _notified(request_id, register)
    with session_scope() as session:
        findings = findings_of(session, request_id)
    context = {"notified_recipients": notified, **_answer_facts(request, register, findings)}
    if request.kind in (RequestKind.ACCESS, RequestKind.PORTABILITY):
        context.update(_package(request, register, notified=notified, findings=findings))
    send_to_subject(
        request_id,
        purpose="answer",
        template=f"answer_{request.kind.value}",
        to=request.email,
        context=context,
    )
    with session_scope() as session:
        stored = session.get(Request, request_id)
        assert stored is not None  # noqa: S101
        if stored.status is RequestStatus.AWAITING_MANUAL:
            lifecycle.transition(
                session, request=stored, target=RequestStatus.IN_PROGRESS, actor=ACTOR
            )
        lifecycle.transition(session, request=stored, target=RequestStatus.COMPLETED, actor=ACTOR)
        return stored.status


def _package(
    request: Request,
    register: Register,
    *,
    notified: list[str],
    findings: Mapping[str, Finding],
) -> dict[str, Any]:
    from dsar.export import build_package, download_url, issue_download

    settings = get_settings()
    package = build_package(
        request_id=request.id,
        kind=request.kind,
        language=request.language,
        register=register,
        results=_export_results(request.id, register),
        out_dir=settings.exports_dir,
        now=utcnow(),
        notified=notified,
        received={
            k: tuple(in_language(r, request.language) for r in f.reasons)
            for k, f in findings.items()
            if f.received
        }
        if findings
        else None,
        regime=request.regime.value,
    )
    with session_scope() as session:
        export, token = issue_download(session, request_id=request.id, package=package)
        append_event(
            session,
            action="package_built",
            actor=ACTOR,
            request_id=request.id,
            data={"sha256": package.sha256, "files": list(package.files), "export_id": export.id},
        )
    _forget_exported_records(request.id)
    return {
        "download_url": download_url(token, settings.public_url),
        "download_expires": export.expires_at,
    }


def _answer_facts(
    request: Request, register: Register, findings: Mapping[str, Finding]
) -> dict[str, Any]:
    """What the answer to the subject reports, per kind, from the stored steps."""
    with session_scope() as session:
        done = [
            s
            for s in steps_of(session, request.id)
            if s.status in (StepStatus.DONE, StepStatus.PENDING)
        ]

    lang = request.language[:2]  # the register's texts in the person's language

    def name(key: str) -> str:
        return register.recipient(key).text("name", lang)

    def items(action: str) -> list[dict[str, Any]]:
        return [
            {
                "recipient": name(s.recipient),
                "categories": [register.category(c).text("name", lang) for c in s.categories],
                "ground": s.retention_ground,
                "until": s.retention_until,
            }
            for s in done
            if s.action == action
        ]

    kind = request.kind
    if kind in (RequestKind.ACCESS, RequestKind.PORTABILITY):
        received = [r for r in register.recipients if (f := findings.get(r.key)) and f.received]
        return {
            "recipients": [
                {
                    "name": r.text("name", lang),
                    "country": r.country,
                    "evidence": [in_language(e, request.language) for e in findings[r.key].reasons],
                }
                for r in received
            ],
            "other_recipients": [
                {"name": r.text("name", lang), "country": r.country}
                for r in register.recipients
                if r not in received
            ],
        }
    if kind is RequestKind.ERASURE:
        return {"erased": items("erase"), "kept": kept_items(request.id, register)}
    if kind is RequestKind.RESTRICTION:
        return {"restricted": items("restrict")}
    if kind in (RequestKind.OBJECTION, RequestKind.OPT_OUT, RequestKind.LIMIT_SENSITIVE):
        return {"stopped": list(dict.fromkeys(name(s.recipient) for s in done))}
    fields = sorted(request.details.get("changes", {}))
    return {"fields": fields, "recipients": list(dict.fromkeys(name(s.recipient) for s in done))}


def answer_facts(
    request: Request, register: Register, findings: Mapping[str, Finding]
) -> dict[str, Any]:
    """What the answer to ``request`` reports, in the person's language (as the letter says it)."""
    return _answer_facts(request, register, findings)


def _notified(request_id: str, register: Register) -> list[str]:
    """Recipients told of the action (Art. 19 sentence 2): by API or by notice — not one whose
    connector found nothing of the person, nor one staff decided never had the data."""
    with session_scope() as session:
        keys = [
            s.recipient
            for s in steps_of(session, request_id)
            if s.action not in ("export", "decide")
            and s.status in (StepStatus.DONE, StepStatus.PENDING)
            and not (s.connector != MANUAL and s.result.get("count") == 0)
        ]
    return [register.recipient(k).name for k in dict.fromkeys(keys)]


def summary(request_id: str) -> str:
    """A markdown summary of a request's outcome, with ids and counts only."""
    loaded = load(request_id)
    request = loaded.request
    lines = [
        f"# {request.kind.value} request {request.id[:8]}",
        "",
        f"- controller: {request.controller}",
        f"- regime: {request.regime.value}",
        f"- status: {request.status.value}",
        f"- due: {request.effective_due_date.isoformat()}",
        "",
        "| recipient | action | status | count |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['recipient']} | {r['action']} | {r['status']} | {r['count']} |"
        for r in step_rows(request_id)
    ]
    return "\n".join(lines)
