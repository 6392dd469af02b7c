"""The answer names the register's recipients in the person's language."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from dsar.enums import Verdict
from dsar.evidence import Finding
from dsar.register import register_for
from engine import answer_facts
from tests.factories import make_request


def test_a_german_access_answer_names_the_recipients_in_german(engine: Engine) -> None:
    """Recipients that received the data and the others appear under their German names."""
    with Session(engine, expire_on_commit=False) as session:
        request = make_request(session, language="de")
        session.commit()
    findings = {"shopify": Finding("shopify", Verdict.RECEIVED, ("its records hold the person",))}
    facts = answer_facts(request, register_for("lunexxa"), findings)
    assert (
        facts["recipients"][0]["name"] == "Shopify International Limited (Hosting und Shopsystem)"
    )
    others = [r["name"] for r in facts["other_recipients"]]
    assert "Klaviyo, Inc. (Newsletter-Versand)" in others
    assert not any("newsletter dispatch" in name for name in others)
