"""Which recipients received a person's data: each register rule judged against the traces."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from dsar.enums import RequestKind, Verdict
from dsar.errors import RegisterError
from dsar.evidence import Finding, Trace, in_language, judge
from dsar.plan import build_plan
from dsar.register import load_register, register_for

MINIMAL = Path(__file__).resolve().parents[1] / "data" / "registers" / "minimal.yaml"
LUNEXXA = register_for("lunexxa")

PAYPAL_AND_DHL = (
    Trace("payment_gateway", "paypal", "order #1001"),
    Trace("carrier", "DHL Express", "order #1001"),
    Trace("checkout_address", "address", "order #1001"),
    Trace("payment_gateway", "PayPal Express Checkout", "order #1002"),
)


def verdicts(findings: dict[str, Finding]) -> dict[str, Verdict]:
    return {key: f.verdict for key, f in findings.items()}


class TestJudge:
    def test_a_paypal_customer_shipped_by_dhl(self) -> None:
        findings = judge(
            LUNEXXA.recipients,
            found={"klaviyo": True, "mailchimp": False},
            traces=PAYPAL_AND_DHL,
        )
        assert verdicts(findings) == {
            "shopify": Verdict.RECEIVED,
            "shopify_payments": Verdict.NOT_RECEIVED,
            "klaviyo": Verdict.RECEIVED,
            "newsletter": Verdict.NOT_RECEIVED,
            "shipping_partner": Verdict.RECEIVED,
            "amazon_pay": Verdict.NOT_RECEIVED,
            "google_pay": Verdict.NOT_RECEIVED,
            "klarna": Verdict.NOT_RECEIVED,
            "paypal": Verdict.RECEIVED,
            "sofort": Verdict.NOT_RECEIVED,
            "google_ads": Verdict.UNDETERMINED,
            "endereco": Verdict.RECEIVED,
        }
        assert findings["paypal"].reasons == (
            "order #1001, paid with paypal",
            "order #1002, paid with PayPal Express Checkout",
        )
        assert findings["shipping_partner"].carriers == ("DHL Express",)
        assert findings["klarna"].reasons == ("no order was paid with klarna",)

    def test_unreadable_orders_leave_every_order_rule_undetermined(self) -> None:
        """Never "received" by default: a shop that could not be read decides nothing."""
        findings = judge(LUNEXXA.recipients, found={"klaviyo": None}, traces=None)
        for key in ("paypal", "klarna", "shipping_partner", "endereco", "klaviyo"):
            assert findings[key].verdict is Verdict.UNDETERMINED, key
        assert findings["shopify"].verdict is Verdict.RECEIVED

    def test_a_person_without_orders_reached_no_payment_provider_or_carrier(self) -> None:
        findings = judge(LUNEXXA.recipients, found={"klaviyo": True, "mailchimp": True}, traces=())
        assert {k for k, f in findings.items() if f.received} == {
            "shopify",
            "klaviyo",
            "newsletter",
        }

    def test_paid_counts_any_gateway(self) -> None:
        luma = register_for("luma-flux")
        traces = (Trace("payment_gateway", "shopify_payments", "order #7"),)
        assert judge(luma.recipients, found={}, traces=traces)["payment_systems"].received
        assert not judge(luma.recipients, found={}, traces=())["payment_systems"].received


class TestPlan:
    def test_only_evidenced_recipients_get_a_notice_and_the_undetermined_a_decision(self) -> None:
        findings = judge(LUNEXXA.recipients, found={"klaviyo": True}, traces=PAYPAL_AND_DHL)
        plan = build_plan(
            register=LUNEXXA,
            kind=RequestKind.ERASURE,
            received_on=date(2026, 12, 4),
            findings=findings,
        )
        manual = {s.recipient: s.action for s in plan.steps if s.manual}
        assert manual == {
            "shipping_partner": "manual",
            "paypal": "manual",
            "endereco": "manual",
            "google_ads": "decide",
        }
        (shipping,) = plan.for_recipient("shipping_partner")
        assert "DHL Express" in shipping.instructions
        (ads,) = plan.for_recipient("google_ads")
        assert ads.instructions.startswith("Did Google Ireland Limited (Google Ads Remarketing)")

    def test_without_findings_nothing_is_sent_to_a_recipient_without_an_api(self) -> None:
        plan = build_plan(register=LUNEXXA, kind=RequestKind.ERASURE, received_on=date(2026, 12, 4))
        assert {s.action for s in plan.steps if s.manual} == {"decide"}


class TestRegisterRule:
    @pytest.mark.parametrize(
        ("rule", "message"),
        [
            ("", r"recipients\.0\.evidence: required field is missing \(in recipient 'platform'\)"),
            ("    evidence: sometimes\n", "recipients.0.evidence: must be one of always, found"),
            ("    evidence: {payment_gateways: []}\n", "payment_gateways: \\[names\\]"),
        ],
    )
    def test_a_recipient_without_a_valid_rule_is_refused(
        self, tmp_path: Path, rule: str, message: str
    ) -> None:
        text = MINIMAL.read_text(encoding="utf-8")
        first = text.index("    evidence: always\n")
        broken = text[:first] + rule + text[first + len("    evidence: always\n") :]
        path = tmp_path / "shop.yaml"
        path.write_text(broken, encoding="utf-8")
        with pytest.raises(RegisterError, match=message):
            load_register(path)

    def test_found_needs_a_connector(self, tmp_path: Path) -> None:
        text = MINIMAL.read_text(encoding="utf-8")
        broken = text.replace(
            "    connector: shopify\n    evidence: always",
            "    connector: manual\n    evidence: found",
        )
        path = tmp_path / "shop.yaml"
        path.write_text(broken, encoding="utf-8")
        with pytest.raises(RegisterError, match="'found' needs a connector"):
            load_register(path)

    def test_payment_gateways_are_read_as_names(self) -> None:
        assert LUNEXXA.recipient("amazon_pay").evidence == ("amazon_pay", "amazon_payments")


class TestReasonsInTheAnswersLanguage:
    """A German answer says the recorded reasons in German; the records stay as they are."""

    @pytest.mark.parametrize(
        ("recorded", "german"),
        [
            ("order #1003, paid with PayPal", "Bestellung #1003, bezahlt mit PayPal"),
            ("order #1001, shipped by DHL Express", "Bestellung #1001, versandt durch DHL Express"),
            (
                "order #1002, address entered at checkout",
                "Bestellung #1002, Adresse an der Kasse eingegeben",
            ),
            (
                "holds the data of every customer of the shop",
                "verarbeitet die Daten aller Kunden des Shops",
            ),
            ("its records hold the person", "ihre Datensätze enthalten die Person"),
            (
                "decided by staff: card receipt",
                "von unseren Mitarbeitern festgestellt: card receipt",
            ),
        ],
    )
    def test_each_recorded_reason_reads_in_german(self, recorded: str, german: str) -> None:
        assert in_language(recorded, "de") == german
        assert in_language(recorded, "en") == recorded

    def test_every_reason_a_german_answer_names_is_in_german(self) -> None:
        """The reasons of every recipient that received the data, as the answer names them."""
        findings = judge(
            LUNEXXA.recipients, found={"klaviyo": True, "mailchimp": True}, traces=PAYPAL_AND_DHL
        )
        said = [in_language(r, "de") for f in findings.values() if f.received for r in f.reasons]
        assert len(said) >= 5
        for reason in said:
            for english in ("order ", "paid with", "shipped by", "entered at", "holds", "records"):
                assert english not in reason, reason
