"""What the console shows: the inbox rows, one request's page, how its deadline was counted.

Every read goes through :func:`visible_request` or filters by the member's controllers, so a
request of a shop the member was not granted is never read into a page: it is "not found".
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from dsar import lifecycle
from dsar.accounts import StaffMember, evidence_of, index_requests, requests_by_email
from dsar.audit import events_for
from dsar.deadlines import ClockStop, add_months, compute_deadlines
from dsar.enums import RequestKind, RequestStatus
from dsar.models import Export, ManualTask, Notice, RecipientFinding, Request
from dsar.plan import steps_of
from dsar.refusal import grounds_for
from dsar.register import register_for
from dsar.staff.auth import Member, StaffError
from dsar.staff.words import texts

_HEX_ID = re.compile(r"[0-9a-f]{6,32}")
SOON_DAYS = 3


@lru_cache(maxsize=32)
def _zone(controller: str) -> str:
    return register_for(controller).controller.timezone


def today_of(controller: str, now: datetime | None = None) -> date:
    """Today in the controller's zone (where its deadlines are counted)."""
    return (now or datetime.now(ZoneInfo("UTC"))).astimezone(ZoneInfo(_zone(controller))).date()


def visible_request(session: Session, member: Member, request_id: str) -> Request:
    """The request when it exists and belongs to one of the member's controllers; else 404."""
    request = session.get(Request, request_id) if _HEX_ID.fullmatch(request_id) else None
    if request is None or request.controller not in member.controllers:
        raise StaffError(404, f"no request with id {request_id!r}")
    return request


def _choice(value: str | None, allowed: set[str], name: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise StaffError(400, f"{name}: {value!r} is not one of {', '.join(sorted(allowed))}")
    return value


def inbox_rows(
    session: Session,
    member: Member,
    *,
    controller: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    flagged: bool = False,
    query: str | None = None,
) -> list[dict[str, Any]]:
    """Open requests of the member's controllers by effective due date, with days left."""
    controllers = set(member.controllers)
    chosen = _choice(controller, controllers, "controller")
    kind = _choice(kind, {k.value for k in RequestKind}, "kind")
    status = _choice(status, {s.value for s in lifecycle.OPEN}, "status")
    statement = select(Request).where(
        col(Request.controller).in_([chosen] if chosen else sorted(controllers)),
        col(Request.status).in_([status] if status else sorted(s.value for s in lifecycle.OPEN)),
    )
    if kind:
        statement = statement.where(Request.kind == kind)
    if query and query.strip():
        statement = statement.where(col(Request.id).in_(_search(session, query.strip())))
    statement = statement.order_by(col(Request.effective_due_date), col(Request.received_at))
    rows = []
    for request in session.exec(statement.limit(500)):
        left = (request.effective_due_date - today_of(request.controller)).days
        row = {
            "id": request.id,
            "controller": request.controller,
            "kind": request.kind.value,
            "status": request.status.value,
            "received_on": request.received_on.isoformat(),
            "due_date": request.effective_due_date.isoformat(),
            "extended": request.extended,
            "days_left": left,
            "overdue": left < 0,
            "due_soon": 0 <= left <= SOON_DAYS,
        }
        flag = row["overdue"] or row["due_soon"] or request.status is RequestStatus.FAILED
        if not flagged or flag:
            rows.append(row)
    return rows


def _search(session: Session, text: str) -> list[str]:
    """Request ids matching an id (or a prefix of 6+) or a requester's e-mail address."""
    if "@" in text:
        return requests_by_email(session, text)
    if _HEX_ID.fullmatch(text.lower()):
        return list(
            session.exec(select(Request.id).where(col(Request.id).startswith(text.lower())))
        )
    raise StaffError(400, "search for a request id (6 to 32 hex characters) or an e-mail address")


def deadline_explanation(request: Request, lang: str = "en") -> list[str]:
    """How the effective due date was counted, one sentence each, in ``lang``."""
    words = texts(lang)
    ctl = register_for(request.controller).controller
    stops = [
        ClockStop(
            start=datetime.fromisoformat(s["start"]).date(),
            end=datetime.fromisoformat(s["end"]).date(),
        )
        for s in request.clock_stops
        if s.get("end")
    ]
    counted = compute_deadlines(
        regime=request.regime,
        received_at=request.received_at,
        country=ctl.country,
        subdivision=ctl.subdivision,
        tz=ctl.timezone,
        clock_stops=stops,
    )
    at = f"{request.received_at.astimezone(UTC):%Y-%m-%d %H:%M}"
    lines = [
        words["dl_received"].format(
            at=at, day=counted.received_on.isoformat(), zone=counted.timezone
        )
    ]
    lines += [
        words["dl_stop"].format(start=s.start.isoformat(), end=s.end.isoformat()) for s in stops
    ]
    unrolled = counted.unrolled_due_date.isoformat()
    if request.regime.value in ("gdpr", "uk_gdpr"):
        paused = (counted.unrolled_due_date - add_months(counted.received_on, 1)).days
        extra = words["dl_paused"].format(days=paused) if paused else ""
        lines.append(words["dl_month"].format(paused=extra, day=unrolled))
    else:
        lines.append(words["dl_period"].format(regime=request.regime.value, day=unrolled))
    if counted.due_date != counted.unrolled_due_date:
        place = ctl.country + (f"-{ctl.subdivision}" if ctl.subdivision else "")
        lines.append(words["dl_rolled"].format(place=place, day=counted.due_date.isoformat()))
    else:
        lines.append(words["dl_due"].format(day=request.due_date.isoformat()))
    if request.extended and request.extended_due_date:
        lines.append(
            words["dl_extended"].format(
                day=request.extended_due_date.isoformat(), reason=request.extension_reason or ""
            )
        )
    return lines


def request_page(
    session: Session, member: Member, request: Request, lang: str = "en"
) -> dict[str, Any]:
    """Everything the request's page shows; no identities beyond the member's own shops."""
    findings = {
        f.recipient: f
        for f in session.exec(
            select(RecipientFinding).where(RecipientFinding.request_id == request.id)
        )
    }
    steps = steps_of(session, request.id)
    deciding = {s.recipient for s in steps if s.action == "decide"}
    names = _staff_names(session)
    tasks = session.exec(
        select(ManualTask)
        .where(ManualTask.request_id == request.id)
        .order_by(col(ManualTask.due_date), col(ManualTask.created_at))
    ).all()
    return {
        "request": request,
        "days_left": (request.effective_due_date - today_of(request.controller)).days,
        "deadline": deadline_explanation(request, lang),
        "timeline": [
            {
                "at": e.at.isoformat(timespec="seconds"),
                "action": e.action,
                "actor": names.get(e.actor, e.actor),
                "actor_id": e.actor,
                "data": e.data,
            }
            for e in events_for(session, request.id)
        ],
        "steps": [
            {
                "recipient": s.recipient,
                "action": s.action,
                "status": s.status.value,
                "count": s.result.get("count", ""),
                "error": s.error or "",
                "verdict": findings[s.recipient].verdict.value if s.recipient in findings else "",
                "evidence": list(findings[s.recipient].reasons) if s.recipient in findings else [],
            }
            for s in steps
        ],
        "notices": [
            {
                "recipient": n.recipient,
                "purpose": n.purpose,
                "channel": n.channel,
                "status": n.status.value,
                "sent_at": n.sent_at.isoformat() if n.sent_at else "",
            }
            for n in session.exec(select(Notice).where(Notice.request_id == request.id))
        ],
        "tasks": [
            {
                "id": t.id,
                "recipient": t.recipient,
                "instructions": t.instructions,
                "due_date": t.due_date.isoformat(),
                "status": t.status.value,
                "note": t.note or "",
                "decision": t.recipient in deciding,
            }
            for t in tasks
        ],
        "evidence_files": evidence_of(session, request.id),
        "has_package": package_path(session, request.id) is not None,
        "final": request.status in lifecycle.FINAL,
        # a refusal is open until work on the request has started (Art. 12(4)/(5))
        "refusal_grounds": grounds_for(request.regime)
        if RequestStatus.REJECTED in lifecycle.TRANSITIONS[request.status]
        else (),
    }


def _staff_names(session: Session) -> dict[str, str]:
    return {f"staff:{m.id}": m.email for m in session.exec(select(StaffMember))}


def package_path(session: Session, request_id: str) -> Path | None:
    """The newest package of the request while its file is there."""
    export = session.exec(
        select(Export)
        .where(Export.request_id == request_id)
        .order_by(col(Export.created_at).desc())
    ).first()
    return Path(export.path) if export is not None and Path(export.path).is_file() else None


def refresh_index(session: Session) -> None:
    """Give every request its look-up hash (new requests since the last look)."""
    index_requests(session)
