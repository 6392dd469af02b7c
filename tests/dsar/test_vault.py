"""The retention vault: the period counted from the record, the key, encryption, purging."""

from __future__ import annotations

import logging
import stat
from datetime import date
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlmodel import Session, select

from dsar.audit import events_for
from dsar.errors import InputError
from dsar.models import AuditEvent
from dsar.register import register_for
from dsar.settings import ConfigurationError, get_settings
from dsar.vault import (
    KEY_FILE,
    VaultRecord,
    check_key,
    keep,
    listing,
    open_content,
    purge_due,
    retain_until,
    vault_key,
)
from tests.factories import make_request

ORDERS = register_for("lunexxa").retention_for("order_records")
INVOICE = {"name": "#4711", "billingAddress": {"lastName": "Muster"}, "totalTax": "3.80"}


@pytest.mark.parametrize(
    ("record_day", "until"),
    [
        (date(2026, 3, 10), date(2033, 12, 31)),
        (date(2026, 1, 1), date(2033, 12, 31)),
        (date(2026, 12, 31), date(2033, 12, 31)),
        (date(2019, 6, 1), date(2026, 12, 31)),
        (date(2024, 2, 29), date(2031, 12, 31)),
    ],
)
def test_an_order_is_kept_seven_years_from_the_end_of_its_year(
    record_day: date, until: date
) -> None:
    assert ORDERS is not None
    assert retain_until(ORDERS, record_day) == until


def test_a_development_key_is_made_once_under_home_readable_by_the_owner_only(
    dsar_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dsar.vault")
    key = vault_key()
    path = dsar_home / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert vault_key() == key
    Fernet(key)  # a valid key
    assert [r for r in caplog.records if "DSAR_VAULT_KEY is not set" in r.getMessage()]
    assert key.decode() not in caplog.text


def test_production_without_a_vault_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSAR_ENVIRONMENT", "production")
    monkeypatch.setenv("DSAR_WEBHOOK_SECRET", "secret")
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError, match="DSAR_VAULT_KEY must be set"):
        vault_key()


def test_a_malformed_vault_key_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DSAR_VAULT_KEY", "not-a-key")
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError, match="DSAR_VAULT_KEY"):
        vault_key()


def _keep(session: Session, record_day: date, processor_id: str = "gid://shopify/Order/1") -> str:
    assert ORDERS is not None
    request = make_request(session)
    keep(
        session,
        request_id=request.id,
        recipient="shopify",
        category="order_records",
        exception=ORDERS,
        processor_id=processor_id,
        record_day=record_day,
        content=INVOICE,
        key=vault_key(),
    )
    session.commit()
    return request.id


def test_the_content_is_stored_encrypted_and_listed_without_it(session: Session) -> None:
    request_id = _keep(session, date(2026, 3, 10))
    record = session.exec(select(VaultRecord)).one()
    assert "Muster" not in record.content
    assert "#4711" not in record.content
    assert open_content(record, vault_key()) == {"starts_on": "2026-03-10", "record": INVOICE}
    rows = listing(session)
    assert rows == [
        {
            "id": record.id,
            "request_id": request_id,
            "category": "order_records",
            "ground": "Art. 17(3)(b) — § 132 BAO (Austrian Federal Fiscal Code)",
            "retain_until": "2033-12-31",
        }
    ]


def test_keeping_the_same_record_twice_stores_it_once(session: Session) -> None:
    assert ORDERS is not None
    request_id = _keep(session, date(2026, 3, 10))
    again = keep(
        session,
        request_id=request_id,
        recipient="shopify",
        category="order_records",
        exception=ORDERS,
        processor_id="gid://shopify/Order/1",
        record_day=date(2026, 3, 10),
        content=INVOICE,
        key=vault_key(),
    )
    assert again is False
    session.commit()
    assert len(session.exec(select(VaultRecord)).all()) == 1


def test_a_record_is_purged_the_day_after_its_retention_ends_and_only_once(
    session: Session,
) -> None:
    request_id = _keep(session, date(2026, 3, 10))
    assert purge_due(session, today=date(2033, 12, 31), actor="test", key=vault_key()) == 0
    session.commit()
    assert len(session.exec(select(VaultRecord)).all()) == 1
    assert purge_due(session, today=date(2034, 1, 1), actor="test", key=vault_key()) == 1
    session.commit()
    assert session.exec(select(VaultRecord)).all() == []
    assert purge_due(session, today=date(2034, 1, 1), actor="test", key=vault_key()) == 0
    session.commit()
    purged = [e for e in events_for(session, request_id) if e.action == "vault_purged"]
    assert [e.data["count"] for e in purged] == [1]


def test_a_wrong_key_purges_nothing(session: Session) -> None:
    _keep(session, date(2019, 3, 10))
    events = len(session.exec(select(AuditEvent)).all())
    with pytest.raises(InputError, match="cannot decrypt"):
        purge_due(session, today=date(2034, 1, 1), actor="test", key=Fernet.generate_key())
    session.rollback()
    assert len(session.exec(select(VaultRecord)).all()) == 1
    assert len(session.exec(select(AuditEvent)).all()) == events


def test_the_start_check_refuses_production_without_a_key_and_makes_none_in_development(
    dsar_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_key()
    assert not (dsar_home / KEY_FILE).exists()
    monkeypatch.setenv("DSAR_ENVIRONMENT", "production")
    monkeypatch.setenv("DSAR_WEBHOOK_SECRET", "secret")
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError, match="DSAR_VAULT_KEY must be set"):
        check_key()
    monkeypatch.setenv("DSAR_VAULT_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()
    check_key()
