"""US request kinds: opt-out and limit-sensitive, their deadlines, and who may ask for them."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from dsar.cli import app
from dsar.deadlines import compute_deadlines
from dsar.enums import Regime, RequestKind
from dsar.plan import build_plan
from dsar.register import load_register
from tests.conftest import LUMA_FLUX, LUNEXXA

runner = CliRunner()
LA = ZoneInfo("America/Los_Angeles")
LUMA = load_register(LUMA_FLUX)


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def stored_requests() -> int:
    from dsar.models import Request
    from dsar.store import engine_from_settings, session_scope

    with session_scope(engine_from_settings()) as session:
        return len(session.exec(select(Request)).all())


class TestOptOutDeadlines:
    @pytest.mark.parametrize(
        ("received", "due"),
        [
            # Thanksgiving (26 Nov) is a federal holiday; the day after is a business day.
            ("2026-11-20T10:00:00", date(2026, 12, 14)),
            # Christmas and New Year's Day both fall inside the 15 business days.
            ("2026-12-18T10:00:00", date(2027, 1, 12)),
            # César Chávez Day (31 Mar) is a California holiday, not a federal one: it counts.
            ("2026-03-27T10:00:00", date(2026, 4, 17)),
            # Late evening in Los Angeles is still the 20th there, though the 21st in UTC.
            ("2026-11-20T23:30:00", date(2026, 12, 14)),
        ],
    )
    @pytest.mark.parametrize("kind", [RequestKind.OPT_OUT, RequestKind.LIMIT_SENSITIVE])
    def test_due_fifteen_business_days_after_receipt(
        self, received: str, due: date, kind: RequestKind
    ) -> None:
        """11 CCR § 7026(f), § 7027(g): no later than 15 business days, federal holidays out."""
        deadlines = compute_deadlines(
            regime=Regime.CCPA,
            received_at=datetime.fromisoformat(received).replace(tzinfo=LA),
            country="US",
            tz="America/Los_Angeles",
            kind=kind,
        )
        assert deadlines.due_date == due
        assert (deadlines.extended_due_date, deadlines.acknowledge_by) == (None, None)

    def test_know_delete_correct_keep_45_days_and_10_business_days_receipt(self) -> None:
        """§ 7021: receipt confirmed in 10 business days, answer in 45 days, 90 with notice."""
        deadlines = compute_deadlines(
            regime=Regime.VCDPA,
            received_at=datetime(2026, 11, 20, 10, tzinfo=LA),
            country="US",
            tz="America/Los_Angeles",
            kind=RequestKind.ERASURE,
        )
        assert deadlines.due_date == date(2027, 1, 4)
        assert deadlines.extended_due_date == date(2027, 2, 18)
        assert deadlines.acknowledge_by == date(2026, 12, 7)


class TestSubmitOptOut:
    @pytest.mark.parametrize("kind", ["opt-out", "limit-sensitive"])
    def test_accepted_without_verification_due_within_15_business_days(self, kind: str) -> None:
        """A Californian's opt-out is recorded, needs no verification, and is due in time."""
        code, out, err = run(
            "request", "submit", "--controller", "luma-flux", "--kind", kind,
            "--email", "consumer@example.com", "--residence", "US-CA",
            "--received", "2026-11-20T10:00:00-08:00", "--json",
        )  # fmt: skip
        assert code == 0, err
        payload = json.loads(out)
        assert (payload["kind"], payload["regime"]) == (kind, "ccpa")
        assert payload["due_date"] == "2026-12-14"
        assert payload["extended_due_date"] is None
        _code, shown, _ = run("request", "show", payload["id"], "--json")
        audit = json.loads(shown)["audit"]
        waived = [e for e in audit if e["action"] == "verification_not_required"]
        assert waived
        assert "§ 7026" in waived[0]["data"]["ground"]

    def test_identity_gate_lets_an_opt_out_pass_unverified(self) -> None:
        """The engine carries out an opt-out without sending an identity challenge first."""
        from dsar.uslaw import NO_VERIFICATION_KINDS

        assert RequestKind.OPT_OUT in NO_VERIFICATION_KINDS
        assert RequestKind.ACCESS not in NO_VERIFICATION_KINDS

    def test_opt_out_for_a_gdpr_controller_is_bad_input(self) -> None:
        """Lunexxa is under the GDPR: an opt-out is refused with a reason, nothing is stored."""
        code, _out, err = run(
            "request", "submit", "--controller", "lunexxa", "--kind", "opt-out",
            "--email", "kunde@example.com", "--residence", "AT",
        )  # fmt: skip
        assert code == 2
        assert "US state privacy law" in err
        assert stored_requests() == 0

    def test_unknown_us_state_is_bad_input(self) -> None:
        """A residence in a state that does not exist is refused; nothing is stored."""
        code, _out, err = run(
            "request", "submit", "--controller", "luma-flux", "--kind", "opt-out",
            "--email", "consumer@example.com", "--residence", "US-XX",
        )  # fmt: skip
        assert code == 2
        assert "unknown US state" in err
        assert stored_requests() == 0

    def test_texan_is_served_under_the_shops_policy(self) -> None:
        """Texas's law is not one the shop applies: its stated policy governs, 45 days."""
        code, out, err = run(
            "request", "submit", "--controller", "luma-flux", "--kind", "access",
            "--email", "consumer@example.com", "--residence", "US-TX",
            "--received", "2026-01-05T09:00:00-08:00", "--json",
        )  # fmt: skip
        assert code == 0, err
        payload = json.loads(out)
        assert (payload["regime"], payload["due_date"]) == ("policy", "2026-02-19")


class TestOptOutPlan:
    def test_opt_out_stops_marketing_and_sharing_at_every_marketing_recipient(self) -> None:
        """The store's consent, the newsletter service and the advertising partners."""
        plan = build_plan(register=LUMA, kind=RequestKind.OPT_OUT, received_on=date(2026, 11, 20))
        steps = {(s.recipient, s.action) for s in plan.steps}
        assert steps == {
            ("shopify", "restrict"),
            ("newsletter", "restrict"),
            ("advertising_partners", "decide"),
        }

    def test_limit_sensitive_touches_only_sensitive_categories(self) -> None:
        """Luma-Flux records no sensitive personal information: nothing to restrict."""
        plan = build_plan(
            register=LUMA, kind=RequestKind.LIMIT_SENSITIVE, received_on=date(2026, 11, 20)
        )
        assert plan.steps == ()

    def test_lunexxa_register_is_untouched_by_the_us_rules(self) -> None:
        """A GDPR shop still serves every residence under the GDPR."""
        lunexxa = load_register(LUNEXXA)
        assert lunexxa.regime_for(country="US", subdivision="TX") is Regime.GDPR


class TestDeadlineCommand:
    def test_opt_out_due_date_from_the_deadline_command(self) -> None:
        """`dsar deadline --kind opt-out`: 15 business days, Thanksgiving not counted."""
        code, out, err = run(
            "deadline", "--regime", "ccpa", "--country", "US", "--tz", "America/Los_Angeles",
            "--received", "2026-11-20T10:00:00-08:00", "--kind", "opt-out",
        )  # fmt: skip
        assert (code, out.strip()) == (0, "2026-12-14"), err

    def test_unknown_kind_exits_2(self) -> None:
        code, _out, err = run(
            "deadline", "--regime", "ccpa", "--country", "US",
            "--received", "2026-11-20T10:00:00-08:00", "--kind", "nonsense",
        )  # fmt: skip
        assert code == 2
        assert "unknown kind" in err
