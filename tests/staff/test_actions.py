"""Actions on requests the engine carried out: a recipient decision and lifting a restriction,
each recorded under the staff member's id."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dsar.enums import ManualTaskStatus, RequestKind, Verdict
from dsar.models import AuditEvent, ManualTask, Notice, RecipientFinding
from sandbox.personas import MARIA_EMAIL
from tests.flows.conftest import run, submit
from tests.mailsink import Inbox
from tests.staff.conftest import LUNEXXA_AGENT, TestClient, add_staff, sign_in


def _actors(engine: Engine, request_id: str) -> dict[str, str]:
    with Session(engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.request_id == request_id))
        return {e.action: e.actor for e in events}


def test_deciding_that_a_recipient_did_not_receive_the_data_closes_its_task(
    engine_env: Inbox, engine: Engine, console: TestClient
) -> None:
    member_id = add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    request_id = submit(RequestKind.ERASURE, MARIA_EMAIL)
    assert run(request_id) == "awaiting_manual"
    with Session(engine) as session:
        task = session.exec(
            select(ManualTask).where(
                ManualTask.request_id == request_id, ManualTask.recipient == "google_ads"
            )
        ).one()
    token = sign_in(console, LUNEXXA_AGENT)
    page = console.get(f"/staff/requests/{request_id}").text
    assert "/actions/decide" in page
    answer = console.post(
        f"/staff/requests/{request_id}/actions/decide",
        data={"task_id": task.id, "received": "no", "note": "no campaign reached her",
              "confirm": "yes", "csrf_token": token},
        headers={"accept": "application/json"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    with Session(engine) as session:
        finding = session.exec(
            select(RecipientFinding).where(
                RecipientFinding.request_id == request_id,
                RecipientFinding.recipient == "google_ads",
            )
        ).one()
        decided = session.get(ManualTask, task.id)
    assert finding.verdict is Verdict.NOT_RECEIVED
    assert finding.decided_by == f"staff:{member_id}"
    assert decided is not None
    assert decided.status is ManualTaskStatus.DONE
    assert _actors(engine, request_id)["recipient_decided"] == f"staff:{member_id}"


def test_lifting_a_restriction_needs_a_reason_and_tells_the_subject(
    engine_env: Inbox, engine: Engine, console: TestClient, sandbox: Any
) -> None:
    from flows.embedded import settle_open_tasks

    member_id = add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    request_id = submit(RequestKind.RESTRICTION, MARIA_EMAIL)
    run(request_id)
    assert settle_open_tasks(request_id, note="recipient confirmed")[1] == "completed"
    token = sign_in(console, LUNEXXA_AGENT)
    assert "/actions/lift" in console.get(f"/staff/requests/{request_id}").text
    url = f"/staff/requests/{request_id}/actions/lift"
    without = console.post(url, data={"confirm": "yes", "csrf_token": token})
    assert without.status_code == 400
    assert "Art. 18(3)" in without.text
    answer = console.post(
        url,
        data={"reason": "the accuracy check is finished", "confirm": "yes", "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    with Session(engine) as session:
        notice = session.exec(
            select(Notice).where(Notice.request_id == request_id, Notice.purpose == "lift_notice")
        ).one()
    assert notice.sent_at is not None
    assert "dsar-restricted" not in sandbox.sandbox.shopify.search(f"email:{MARIA_EMAIL}")[0].tags
    assert _actors(engine, request_id)["restriction_lift_requested"] == f"staff:{member_id}"


def test_the_package_preview_is_the_report_the_person_gets(
    engine_env: Inbox, engine: Engine, console: TestClient
) -> None:
    import zipfile

    from dsar.models import Export

    add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    request_id = submit(RequestKind.ACCESS, MARIA_EMAIL)
    assert run(request_id) == "completed"
    sign_in(console, LUNEXXA_AGENT)
    assert (
        f"/staff/requests/{request_id}/package" in console.get(f"/staff/requests/{request_id}").text
    )
    preview = console.get(f"/staff/requests/{request_id}/package")
    assert preview.status_code == 200
    assert "sandbox" in preview.headers["content-security-policy"]
    with Session(engine) as session:
        export = session.exec(select(Export).where(Export.request_id == request_id)).one()
    with zipfile.ZipFile(export.path) as package:
        assert preview.text == package.read("report.html").decode()
