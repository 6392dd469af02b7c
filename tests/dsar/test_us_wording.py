"""US letters and reports speak US law: state statutes, consumer and business, no GDPR terms."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dsar.export import ExportedRecord, SourceResult, render_report
from dsar.notify import TEMPLATES, render
from dsar.register import load_register
from tests.conftest import LUMA_FLUX
from tests.dsar.test_notify import CONTEXT

LUMA = load_register(LUMA_FLUX)
US_REGIMES = ("ccpa", "vcdpa", "cpa", "policy")
#: Words no letter or report to a US consumer may contain.
FORBIDDEN = ("GDPR", "Art. ", "Member State", "supervisory authority", "PLACEHOLDER")
#: Messages to recipients (service providers), not to the consumer: tested on their own below.
NOT_TO_THE_CONSUMER = frozenset({"art19"})


def forbidden_in(text: str) -> list[str]:
    return [word for word in FORBIDDEN if word.lower() in text.lower()]


def us_context(regime: str) -> dict[str, Any]:
    """The shared context with Luma-Flux's controller and a retention ground from its register."""
    exception = LUMA.retention_exceptions[0]
    kept = [{**item, "ground": f"{exception.ground} — {exception.law}"} for item in CONTEXT["kept"]]
    return {**CONTEXT, "controller": LUMA.controller, "regime": regime, "kept": kept}


class TestLetters:
    @pytest.mark.parametrize("regime", US_REGIMES)
    @pytest.mark.parametrize("template", sorted(set(TEMPLATES) - NOT_TO_THE_CONSUMER))
    def test_every_letter_to_a_us_consumer_is_free_of_gdpr_terms(
        self, template: str, regime: str
    ) -> None:
        """Whatever the message, a US consumer reads US terms (and no placeholder)."""
        subject, body = render(template, "en", **us_context(regime))
        assert forbidden_in(subject + body) == [], body

    @pytest.mark.parametrize("template", sorted(set(TEMPLATES) - NOT_TO_THE_CONSUMER))
    def test_german_letters_to_us_consumers_are_free_of_gdpr_terms(self, template: str) -> None:
        """Where no German US wording exists, the US consumer gets the English US letter."""
        subject, body = render(template, "de", **us_context("vcdpa"))
        assert forbidden_in(subject + body) == [], body

    def test_gdpr_letters_are_unchanged_for_gdpr_regimes(self) -> None:
        """The US selection leaves a GDPR subject's letter as it was."""
        _subject, body = render("answer_erasure", "en", **{**CONTEXT, "regime": "gdpr"})
        assert "Art. 17 GDPR" in body

    def test_us_answer_cites_the_state_statute_and_the_non_discrimination_rule(self) -> None:
        """A Californian's deletion answer cites § 1798.105 and § 1798.125."""
        _subject, body = render("answer_erasure", "en", **us_context("ccpa"))
        assert "California Consumer Privacy Act (Cal. Civ. Code § 1798.105)" in body
        assert "will not discriminate" in body
        assert "Cal. Civ. Code § 1798.125" in body
        assert "service providers" in body

    def test_policy_answer_cites_no_law(self) -> None:
        """A consumer no state law protects is answered under the shop's policy, no statute."""
        _subject, body = render("answer_erasure", "en", **us_context("policy"))
        assert "No state privacy law applies to your request" in body
        assert "Code" not in body

    @pytest.mark.parametrize("action", ["rectify", "erase", "restrict", "stop_marketing"])
    @pytest.mark.parametrize("kind", ["erasure", "opt-out", "limit-sensitive"])
    def test_notice_to_a_service_provider_under_us_law_is_free_of_gdpr_terms(
        self, action: str, kind: str
    ) -> None:
        """The partners an opt-out is passed to read US terms too (11 CCR § 7026(f)(2))."""
        subject, body = render(
            "art19", "en", **{**us_context("ccpa"), "action": action, "kind": kind}
        )
        assert forbidden_in(subject + body) == []
        assert "Cal. Civ. Code" in body

    def test_opt_out_answer_names_the_services_told_to_stop(self) -> None:
        _subject, body = render(
            "answer_opt-out", "en", **{**us_context("ccpa"), "stopped": ["Klaviyo, Inc."]}
        )
        assert "Klaviyo, Inc." in body
        assert "Cal. Civ. Code § 1798.120" in body
        assert "needs no verification" in body


def _results() -> list[SourceResult]:
    return [
        SourceResult(
            recipient="shopify",
            status="exported",
            records=(
                ExportedRecord(
                    category="customer_account",
                    source="shopify",
                    data={"id": 7, "email": "consumer@example.com"},
                ),
            ),
        ),
        SourceResult(recipient="newsletter", status="exported", records=()),
    ]


class TestReport:
    @pytest.mark.parametrize("regime", US_REGIMES)
    def test_us_report_is_free_of_gdpr_terms_and_placeholders(self, regime: str) -> None:
        """The consumer's HTML report under any US regime reads in US terms."""
        html = render_report(
            request_id="r1",
            language="en",
            register=LUMA,
            results=_results(),
            now=datetime(2026, 3, 5, tzinfo=UTC),
            notified=["Klaviyo, Inc. (e-mail newsletter service)"],
            regime=regime,
        )
        assert forbidden_in(html) == []
        assert "consumer@example.com" in html
        assert "Service provider acting on our behalf" in html

    def test_californian_report_cites_the_ccpa(self) -> None:
        html = render_report(
            request_id="r1", language="en", register=LUMA, results=_results(),
            now=datetime(2026, 3, 5, tzinfo=UTC), regime="ccpa",
        )  # fmt: skip
        assert "Cal. Civ. Code §§ 1798.110, 1798.115" in html
        assert "Cal. Civ. Code § 1798.125" in html
        assert "California Privacy Protection Agency" in html

    def test_virginian_report_names_the_appeal_and_the_attorney_general(self) -> None:
        html = render_report(
            request_id="r1", language="en", register=LUMA, results=_results(),
            now=datetime(2026, 3, 5, tzinfo=UTC), regime="vcdpa",
        )  # fmt: skip
        assert "Va. Code § 59.1-577(C)" in html
        assert "Attorney General of Virginia" in html

    def test_report_for_a_consumer_under_the_policy_states_the_policy(self) -> None:
        html = render_report(
            request_id="r1", language="en", register=LUMA, results=_results(),
            now=datetime(2026, 3, 5, tzinfo=UTC), regime="policy",
        )  # fmt: skip
        assert "under our own privacy policy" in html
        assert "Code §" not in html.split('id="rights"')[1].split('id="complaint"')[0]

    def test_without_a_us_regime_the_gdpr_report_is_kept(self) -> None:
        html = render_report(
            request_id="r1", language="en", register=LUMA, results=_results(),
            now=datetime(2026, 3, 5, tzinfo=UTC),
        )  # fmt: skip
        assert "Art. 15" in html
