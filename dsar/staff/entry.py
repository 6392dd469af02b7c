"""Requests that arrive by letter or phone, entered by staff, and the overview page."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as HttpRequest

from dsar.accounts import StaffEvidence, read_evidence
from dsar.audit import append_event
from dsar.enums import Channel, RequestKind
from dsar.errors import InputError
from dsar.models import RequestCreate
from dsar.register import register_for
from dsar.service import submit_request
from dsar.staff.auth import Member, StaffError, wants_json
from dsar.staff.overview import overview_rows
from dsar.staff.routes import Signed, check_csrf, render_page
from dsar.staff.state import database, read_form, staff_state
from dsar.staff.views import visible_request

router = APIRouter(prefix="/staff")
RECEIVED_BY = ("letter", "phone")


@router.get("/overview", response_model=None)
async def overview(request: HttpRequest, member: Signed) -> Response:
    """Open by status, due this week, overdue, median days and share without manual work."""

    def read() -> list[dict[str, Any]]:
        with database(request) as session:
            return overview_rows(session, member)

    rows = await run_in_threadpool(read)
    if wants_json(request):
        return JSONResponse(rows)
    return render_page(request, "overview", member=member, rows=rows)


@router.get("/requests/new", response_model=None)
async def new_request_form(request: HttpRequest, member: Signed) -> Response:
    """The form for a request received by letter or phone."""
    return render_page(request, "new", member=member, kinds=[k.value for k in RequestKind],
                 received_by=RECEIVED_BY)  # fmt: skip


def _field(fields: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = fields.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise StaffError(400, f"{name} is required")
    return text


def _create(member: Member, fields: dict[str, Any]) -> RequestCreate:
    controller = _field(fields, "controller", required=True)
    if controller not in member.controllers:
        raise StaffError(400, f"controller {controller!r} is not one of your shops")
    received_by = _field(fields, "received_by", required=True)
    if received_by not in RECEIVED_BY:
        raise StaffError(400, "received_by must be letter or phone")
    kind = _field(fields, "kind", required=True)
    if kind not in {k.value for k in RequestKind}:
        raise StaffError(400, f"kind must be one of {', '.join(k.value for k in RequestKind)}")
    zone = ZoneInfo(register_for(controller).controller.timezone)
    try:
        received_at = datetime.fromisoformat(_field(fields, "received_at", required=True))
    except ValueError:
        raise StaffError(
            400, "received_at must be a date and time, e.g. 2026-12-04T10:30"
        ) from None
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=zone)
    try:
        return RequestCreate(
            controller=controller,
            kind=RequestKind(kind),
            channel=Channel.STAFF,
            language=_field(fields, "language") or "en",
            email=_field(fields, "email", required=True),
            name=_field(fields, "name") or None,
            received_at=received_at,
            verified_by=_field(fields, "verified_by") or None,
            details={"received_by": received_by},
        )
    except (ValidationError, ValueError) as exc:
        raise StaffError(400, f"invalid request: {_first_error(exc)}") from None


def safe_name(filename: str) -> str:
    """A file name fit for a Content-Disposition header."""
    kept = "".join(c for c in filename if c.isalnum() or c in "._- ")
    return kept.strip()[:100] or "evidence"


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
    return str(exc)


@router.post("/requests/new", response_model=None)
async def new_request(request: HttpRequest, member: Signed) -> Response:
    """Store a request received by letter or phone (how identity was verified, if it was) and
    start carrying it out; without a verification the requester gets the e-mail challenge."""
    fields = await read_form(request)
    check_csrf(staff_state(request), member, fields)
    create = _create(member, fields)

    def store() -> str:
        with database(request) as session:
            try:
                stored, _ = submit_request(
                    session, create=create, register=register_for(create.controller),
                    actor=member.actor,
                )  # fmt: skip
            except InputError as exc:
                raise StaffError(400, str(exc)) from None
            session.commit()
            return stored.id

    request_id = await run_in_threadpool(store)
    await run_in_threadpool(request.app.state.intake.start, request_id)
    if wants_json(request):
        return JSONResponse({"id": request_id}, status_code=201)
    return RedirectResponse(f"/staff/requests/{request_id}", status_code=303)


@router.get("/requests/{request_id}/evidence/{evidence_id}", response_model=None)
async def evidence(
    request: HttpRequest, request_id: str, evidence_id: str, member: Signed
) -> Response:
    """An evidence file of the request, decrypted for the member who may see the request."""

    def read() -> tuple[StaffEvidence, bytes]:
        with database(request) as session:
            visible_request(session, member, request_id)
            row = session.get(StaffEvidence, evidence_id)
            if row is None or row.request_id != request_id:
                raise StaffError(404, f"this request has no evidence file {evidence_id!r}")
            append_event(
                session,
                action="evidence_opened",
                actor=member.actor,
                request_id=request_id,
                data={"evidence": row.id},
            )
            session.commit()
        return row, read_evidence(row)

    row, content = await run_in_threadpool(read)
    return Response(
        content,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{safe_name(row.filename)}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
