"""An erasure keeps the orders the law keeps in the encrypted vault before Shopify erases."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from dsar.audit import events_for
from dsar.enums import RequestKind, StepStatus
from dsar.models import Step
from dsar.register import register_for
from dsar.settings import get_settings
from dsar.store import session_scope
from dsar.vault import VaultRecord, keep, open_content, vault_key
from sandbox.personas import MARIA
from sandbox.seed import MARIA_EMAIL
from tests.factories import make_request
from tests.flows.conftest import run, submit
from tests.mailsink import Inbox

pytestmark = pytest.mark.integration

ORDER_DAY = datetime(2026, 3, 10, 14, 5, tzinfo=UTC)


def _date_marias_last_order(sandbox: Any) -> Any:
    """Maria's newest order, placed on 2026-03-10."""
    state = sandbox.sandbox.shopify
    with state.lock:
        order = state.orders_of(MARIA.shopify_customer_id, status="any")[-1]
        order.created_at = ORDER_DAY
    return order


def _tables_holding(path: Path, text: str) -> list[str]:
    with closing(sqlite3.connect(path)) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        found = []
        for table in tables:
            rows = db.execute(f"SELECT * FROM {table}")  # noqa: S608 - names from sqlite_master
            if any(text in str(row) for row in rows):
                found.append(table)
        return found


def test_an_erasure_keeps_the_order_in_the_vault_then_erases_at_shopify(
    engine_env: Inbox,
    sandbox: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The order of 2026-03-10 is kept until 2033-12-31 (§ 132 BAO: seven years from the end
    of its year) with what an invoice shows; then Shopify erases the customer. Neither the
    database file nor any log line shows the billing name, address or order number."""
    caplog.set_level(logging.DEBUG)
    order = _date_marias_last_order(sandbox)
    number = f"#{order.number}"
    request_id = submit(RequestKind.ERASURE, MARIA_EMAIL)
    run(request_id)
    box = sandbox.sandbox
    assert box.shopify.calls.effects("erasure_requested") == 1
    assert box.shopify.search(f"email:{MARIA_EMAIL}") == []
    with session_scope() as session:
        kept = session.exec(select(VaultRecord).where(VaultRecord.request_id == request_id)).all()
        restrict = session.exec(
            select(Step).where(
                Step.request_id == request_id,
                Step.recipient == "shopify",
                Step.action == "restrict",
            )
        ).one()
    assert restrict.status is StepStatus.DONE
    assert restrict.result["vaulted"] == len(kept) == MARIA.shopify_orders
    by_day = {open_content(r, vault_key())["starts_on"]: r for r in kept}
    record = by_day["2026-03-10"]
    assert record.retain_until == date(2033, 12, 31)
    assert record.category == "order_records"
    assert record.ground == "Art. 17(3)(b)"
    assert "§ 132 BAO" in record.law
    invoice = open_content(record, vault_key())["record"]
    assert invoice["name"] == number
    assert invoice["billingAddress"]["lastName"] == "Muster"
    assert invoice["billingAddress"]["address1"] == "Mariahilfer Straße 1"
    assert invoice["currencyCode"]
    assert invoice["paymentGatewayNames"] == ["paypal"]
    assert invoice["totalTax"]["amount"]
    assert invoice["totalPrice"]["amount"]
    assert [i["title"] for i in invoice["lineItems"]]
    assert by_day["2024-03-12"].retain_until == date(2031, 12, 31)
    # nothing of the content in clear in the database file, the step result or a log line
    home = get_settings().home
    stored = b"".join(p.read_bytes() for p in home.glob("dsar.db*"))
    for secret in ("Mariahilfer", "Muster"):
        assert secret.encode() not in stored
    for secret in (number, "Mariahilfer", "Muster"):
        assert secret not in str(restrict.result)
    # the order number: in no table but the recipients' evidence (which names orders by design)
    assert [t for t in _tables_holding(home / "dsar.db", number) if t != "recipientfinding"] == []
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail."))
    for secret in (number, "Mariahilfer", "Muster"):
        assert secret not in logged


def test_a_rerun_keeps_each_order_once_and_the_answer_names_them(
    engine_env: Inbox, sandbox: Any
) -> None:
    """Run twice, each order is kept once; the answer says each is kept until the end of the
    seventh year after its own, on its ground."""
    _date_marias_last_order(sandbox)
    request_id = submit(RequestKind.ERASURE, MARIA_EMAIL)
    run(request_id)
    run(request_id)
    with session_scope() as session:
        kept = session.exec(select(VaultRecord).where(VaultRecord.request_id == request_id)).all()
    assert len(kept) == MARIA.shopify_orders
    # the answer names what the vault keeps, on which ground, until when: each order from its year
    from flows.embedded import settle_open_tasks

    assert settle_open_tasks(request_id, note="recipient confirmed by e-mail")[1] == "completed"
    plain = engine_env.messages[-1].get_body(preferencelist=("plain",))
    assert plain is not None
    answer = str(plain.get_content()).replace("\r\n", "\n")
    assert "(2 records)\n    Reason: Art. 17(3)(b) — § 132 BAO" in answer
    assert "Kept until: 31 December 2031" in answer
    assert "(1 record)\n    Reason: Art. 17(3)(b) — § 132 BAO" in answer
    assert "Kept until: 31 December 2033" in answer


def test_the_monitor_purges_a_record_the_day_after_its_retention_ends(prefect_api: None) -> None:
    """An order of 2026-03-10 is kept through 2033-12-31: a pass that day keeps it, the pass of
    2034-01-01 purges it (counted in the report, an audit event), the next purges nothing."""
    from flows.monitor import run_monitor

    exception = register_for("lunexxa").retention_for("order_records")
    assert exception is not None
    with session_scope() as session:
        request_id = make_request(session).id
        keep(
            session,
            request_id=request_id,
            recipient="shopify",
            category="order_records",
            exception=exception,
            processor_id="gid://shopify/Order/1",
            record_day=date(2026, 3, 10),
            content={"name": "#4711"},
            key=vault_key(),
        )
    assert "vault_purged" not in run_monitor(today=date(2033, 12, 31)).actions
    with session_scope() as session:
        assert len(session.exec(select(VaultRecord)).all()) == 1
    assert run_monitor(today=date(2034, 1, 1)).actions["vault_purged"] == 1
    assert "vault_purged" not in run_monitor(today=date(2034, 1, 1)).actions
    with session_scope() as session:
        assert session.exec(select(VaultRecord)).all() == []
        purged = [e.data for e in events_for(session, request_id) if e.action == "vault_purged"]
    assert purged == [{"count": 1, "today": "2034-01-01"}]


@pytest.mark.parametrize(
    ("language", "words"),
    [
        (
            "en",
            [
                "Kept, because the law obliges us to keep it (Art. 17(3) GDPR):",
                "(2 records)\n    Reason: Art. 17(3)(b) — § 132 BAO (Austrian Federal Fiscal Code)"
                "\n    Kept until: 31 December 2031",
                "(1 record)\n    Reason: Art. 17(3)(b) — § 132 BAO (Austrian Federal Fiscal Code)"
                "\n    Kept until: 31 December 2033",
            ],
        ),
        (
            "de",
            [
                "Aufbewahrt, weil uns das Gesetz dazu verpflichtet (Art. 17 Abs. 3 DSGVO):",
                "(2 Datensätze)\n    Grund: Art. 17(3)(b) — § 132 BAO (Austrian Federal Fiscal "
                "Code)\n    Aufbewahrt bis: 31. Dezember 2031",
                "(1 Datensatz)\n    Grund: Art. 17(3)(b) — § 132 BAO (Austrian Federal Fiscal Code)"
                "\n    Aufbewahrt bis: 31. Dezember 2033",
            ],
        ),
    ],
)
def test_the_erasure_answer_says_what_the_vault_keeps_not_what_the_plan_expected(
    language: str, words: list[str]
) -> None:
    """Two orders of 2024 and one of 2026 in the vault: kept until the end of 2031 and 2033,
    each on its ground; the plan's own estimate (a later day) appears nowhere."""
    from dsar.notify import render
    from engine import kept_items

    register = register_for("lunexxa")
    exception = register.retention_for("order_records")
    assert exception is not None
    with session_scope() as session:
        request = make_request(session, kind=RequestKind.ERASURE)
        session.add(
            Step(
                request_id=request.id,
                recipient="shopify",
                connector="shopify",
                action="restrict",
                categories=["order_records"],
                retention_ground="Art. 17(3)(b) — § 132 BAO",
                retention_until=date(2040, 12, 31),
            )
        )
        for n, day in enumerate((date(2024, 3, 12), date(2024, 11, 28), date(2026, 3, 10))):
            keep(
                session,
                request_id=request.id,
                recipient="shopify",
                category="order_records",
                exception=exception,
                processor_id=f"gid://shopify/Order/{n}",
                record_day=day,
                content={"name": f"#{n}"},
                key=vault_key(),
            )
        request_id = request.id
    kept = kept_items(request_id, register)
    assert [(k["count"], k["until"]) for k in kept] == [
        (2, date(2031, 12, 31)),
        (1, date(2033, 12, 31)),
    ]
    _, body = render(
        "answer_erasure",
        language,
        controller=register.controller,
        reference="abc",
        notified_recipients=[],
        erased=[],
        kept=kept,
    )
    for expected in words:
        assert expected in body
    assert "2040" not in body
