"""The staff run forms: every correctable field, never an empty rectification, and refusals."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlmodel import Session, select

from dsar.enums import RequestStatus
from dsar.errors import InputError
from dsar.models import Request
from flows.staff import Corrections, staff_refusal, staff_request
from tests.factories import make_request


def test_the_run_form_carries_every_correctable_field() -> None:
    """All nine fields the connectors correct can be given; blanks are no corrections."""
    given = {
        "first_name": "Maria", "last_name": "Beispiel", "email": "m@example.com",
        "phone": "+43 1 234", "address1": "Herrengasse 16", "address2": "Top 3",
        "city": "Graz", "zip": "8010", "country": "AT",
    }  # fmt: skip
    form = Corrections(**{k: SecretStr(v) for k, v in given.items()})
    assert form.changes() == given
    assert Corrections(city=SecretStr("  ")).changes() == {}


def test_a_rectification_without_corrections_is_not_started(session: Session) -> None:
    """The form refuses a rectification that names nothing to correct; nothing is stored."""
    with pytest.raises(InputError, match="at least one corrected value"):
        asyncio.run(
            staff_request.fn(
                controller="lunexxa", kind="rectification", email=SecretStr("m@example.com")
            )
        )
    assert session.exec(select(Request)).all() == []


def test_the_refusal_form_ends_the_request_rejected(session: Session, dsar_home: Path) -> None:
    """Staff refuse from the run form: the request ends rejected and the letter goes out."""
    request = make_request(session)
    session.commit()
    status = staff_refusal.fn(request.id, "excessive", "The ninth identical request this month.")
    assert status == RequestStatus.REJECTED.value
    (letter,) = (dsar_home / "outbox").glob("*.eml")
    message = message_from_bytes(letter.read_bytes(), policy=policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "The ninth identical request this month." in text
    assert "Österreichische Datenschutzbehörde" in text
