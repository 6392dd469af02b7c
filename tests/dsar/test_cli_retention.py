"""``dsar retention list|purge``: ids, categories, grounds and dates only; bad input exits 2."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlmodel import Session, select
from typer.testing import CliRunner

from dsar.cli import app
from dsar.models import AuditEvent
from dsar.register import register_for
from dsar.settings import get_settings
from dsar.vault import VaultRecord, keep, vault_key
from tests.factories import make_request

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _retained(session: Session, record_day: date) -> str:
    exception = register_for("lunexxa").retention_for("order_records")
    assert exception is not None
    request = make_request(session)
    keep(
        session,
        request_id=request.id,
        recipient="shopify",
        category="order_records",
        exception=exception,
        processor_id=f"gid://shopify/Order/{record_day.isoformat()}",
        record_day=record_day,
        content={"name": "#4711", "billingAddress": {"lastName": "Muster"}},
        key=vault_key(),
    )
    session.commit()
    return request.id


def test_list_shows_each_record_without_its_content(session: Session) -> None:
    request_id = _retained(session, date(2026, 3, 10))
    code, out, _ = run("retention", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [set(r) for r in rows] == [{"id", "request_id", "category", "ground", "retain_until"}]
    assert rows[0]["request_id"] == request_id
    assert rows[0]["retain_until"] == "2033-12-31"
    code, out, _ = run("retention", "list")
    assert code == 0
    assert "2033-12-31" in out
    assert "order_records" in out
    for shown in (out, json.dumps(rows)):
        assert "Muster" not in shown
        assert "#4711" not in shown


def test_purge_destroys_what_ended_before_today_and_nothing_twice(session: Session) -> None:
    _retained(session, date(2026, 3, 10))
    code, out, _ = run("retention", "purge", "--today", "2033-12-31")
    assert (code, "purged 0") == (0, out[:8])
    code, out, _ = run("retention", "purge", "--today", "2034-01-01")
    assert (code, "purged 1") == (0, out[:8])
    code, out, _ = run("retention", "purge", "--today", "2034-01-01")
    assert (code, "purged 0") == (0, out[:8])
    session.expire_all()
    assert session.exec(select(VaultRecord)).all() == []


def test_purge_without_a_database_exits_2_and_creates_nothing(dsar_home: Path) -> None:
    code, _, err = run("retention", "purge", "--today", "2034-01-01")
    assert code == 2
    assert "no database" in err
    assert not dsar_home.exists() or list(dsar_home.iterdir()) == []


def test_purge_with_a_wrong_key_exits_2_and_changes_nothing(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _retained(session, date(2019, 3, 10))
    events = len(session.exec(select(AuditEvent)).all())
    session.rollback()  # the CLI is another writer
    monkeypatch.setenv("DSAR_VAULT_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()
    code, _, err = run("retention", "purge", "--today", "2034-01-01")
    assert code == 2
    assert "cannot decrypt" in err
    session.expire_all()
    assert len(session.exec(select(VaultRecord)).all()) == 1
    assert len(session.exec(select(AuditEvent)).all()) == events


def test_purge_with_a_day_that_is_no_date_exits_2(session: Session) -> None:
    code, _, err = run("retention", "purge", "--today", "2034-13-01")
    assert code == 2
    assert "not a date" in err
