"""The CLI contract that acceptance checks rely on: outputs, JSON keys and exit codes."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dsar.cli import app
from tests.conftest import LUMA_FLUX, LUNEXXA

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


class TestDeadline:
    def test_prints_due_date_only(self) -> None:
        """EDPB example: received 5 March → due 5 April (a Sunday in 2026 → Tuesday 7 April,
        Easter Monday 6 April being an Austrian public holiday)."""
        code, out, _ = run(
            "deadline", "--regime", "gdpr", "--country", "AT", "--subdivision", "9",
            "--received", "2026-03-05T10:00:00+01:00",
        )  # fmt: skip
        assert (code, out.strip()) == (0, "2026-04-07")

    def test_extended_prints_the_extended_due_date(self) -> None:
        """Extension: three months from receipt, 5 June 2026 is a Friday and no holiday."""
        code, out, _ = run(
            "deadline", "--regime", "gdpr", "--country", "AT",
            "--received", "2026-03-05T10:00:00+01:00", "--extended",
        )  # fmt: skip
        assert (code, out.strip()) == (0, "2026-06-05")

    def test_json_has_the_contract_keys(self) -> None:
        """--json prints due_date, extended_due_date, extension_notice_by (and acknowledge_by)."""
        code, out, _ = run(
            "deadline", "--regime", "ccpa", "--country", "US", "--subdivision", "CA",
            "--received", "2026-01-05T09:00:00-08:00", "--json",
        )  # fmt: skip
        assert code == 0
        payload = json.loads(out)
        assert payload["due_date"] == "2026-02-19"
        assert payload["extended_due_date"] == "2026-04-05"
        assert payload["extension_notice_by"] == "2026-02-19"
        assert payload["acknowledge_by"] is not None

    @pytest.mark.parametrize(
        ("args", "fragment"),
        [
            (
                ["--regime", "nope", "--country", "AT", "--received", "2026-03-05T10:00:00+01:00"],
                "nope",
            ),
            (
                ["--regime", "gdpr", "--country", "XX", "--received", "2026-03-05T10:00:00+01:00"],
                "XX",
            ),
            (
                ["--regime", "gdpr", "--country", "AT", "--received", "2026-03-05T10:00:00"],
                "offset",
            ),
            (["--regime", "gdpr", "--country", "AT", "--received", "yesterday"], "ISO-8601"),
        ],
        ids=["unknown-regime", "unknown-country", "naive-datetime", "not-a-date"],
    )
    def test_bad_input_exits_2_with_a_reason(self, args: list[str], fragment: str) -> None:
        """Bad input: a message on stderr naming the problem, exit 2, no traceback."""
        code, out, err = run("deadline", *args)
        assert code == 2
        assert fragment in err
        assert "Traceback" not in err + out


class TestRegisterCheck:
    @pytest.mark.parametrize("path", [LUNEXXA, LUMA_FLUX], ids=["lunexxa", "luma-flux"])
    def test_shipped_registers_pass(self, path: Path) -> None:
        """Both shipped registers validate and print their summary."""
        code, out, _ = run("register", "check", str(path))
        assert code == 0
        assert "recipients" in out

    def test_broken_register_names_file_field_and_reason(self, tmp_path: Path) -> None:
        """A bad field is reported with the file, the dotted path and why; exit 2."""
        broken = tmp_path / "broken.yaml"
        broken.write_text(LUNEXXA.read_text().replace("country: AT", "country: Austria", 1))
        code, _, err = run("register", "check", str(broken))
        assert code == 2
        assert str(broken) in err.replace("\n", "")
        assert "controller.country" in err


class TestRequests:
    def _submit(self, *extra: str) -> dict:
        code, out, err = run(
            "request", "submit", "--controller", "lunexxa", "--kind", "access",
            "--email", "maria.muster@example.com", "--json", *extra,
        )  # fmt: skip
        assert code == 0, err
        return json.loads(out)

    def test_submit_json_has_id_status_and_due_date(self) -> None:
        """`request submit --json` prints at least id, status and due_date."""
        payload = self._submit("--received", "2026-03-05T10:00:00+01:00")
        assert payload["status"] == "received"
        assert payload["due_date"] == "2026-04-07"
        assert len(payload["id"]) == 32

    def test_received_near_midnight_utc_counts_in_vienna(self) -> None:
        """22:30 UTC on 9 June is 10 June in Vienna: due 10 July 2026 (a Friday)."""
        payload = self._submit("--received", "2026-06-09T22:30:00Z")
        assert payload["received_on"] == "2026-06-10"
        assert payload["due_date"] == "2026-07-10"

    def test_public_output_holds_no_identity(self) -> None:
        """The JSON of a request never shows the subject's e-mail."""
        payload = self._submit()
        assert "maria.muster" not in json.dumps(payload)

    def test_verified_by_marks_the_request_verified(self) -> None:
        """Staff who verified in person say how; the request is then verified."""
        payload = self._submit("--verified-by", "customer known in person, shop counter")
        assert payload["verified"] is True

    def test_residence_in_california_applies_ccpa_for_luma_flux(self) -> None:
        """A Luma-Flux customer in California is under CCPA: 45 days."""
        code, out, err = run(
            "request", "submit", "--controller", "luma-flux", "--kind", "erasure",
            "--email", "x@example.com", "--residence", "US-CA",
            "--received", "2026-01-05T09:00:00-08:00", "--json",
        )  # fmt: skip
        assert code == 0, err
        payload = json.loads(out)
        assert (payload["regime"], payload["due_date"]) == ("ccpa", "2026-02-19")

    def test_same_idempotency_key_returns_the_same_request(self) -> None:
        """A repeated submission with the same key is recorded once."""
        first = self._submit("--idempotency-key", "letter-2026-0042")
        second = self._submit("--idempotency-key", "letter-2026-0042")
        assert first["id"] == second["id"]
        assert (first["created"], second["created"]) == (True, False)
        _code, out, _ = run("request", "list", "--json")
        assert len(json.loads(out)) == 1

    @pytest.mark.parametrize(
        ("args", "fragment"),
        [
            (["--controller", "nope", "--kind", "access", "--email", "a@example.com"],
             "unknown controller"),
            (["--controller", "lunexxa", "--kind", "access", "--email", "not-an-email"], "e-mail"),
            (["--controller", "lunexxa", "--kind", "rectification", "--email", "a@example.com"],
             "--change"),
            (["--controller", "lunexxa", "--kind", "access", "--email", "a@example.com",
              "--received", "2026-03-05T10:00:00"], "offset"),
            (["--controller", "lunexxa", "--kind", "access", "--email", "a@example.com",
              "--received", "2099-01-01T00:00:00Z"], "future"),
        ],
        ids=["unknown-controller", "bad-email", "rectification-without-change", "naive", "future"],
    )  # fmt: skip
    def test_bad_submissions_exit_2_and_store_nothing(self, args: list[str], fragment: str) -> None:
        """Bad input is refused with a reason and nothing is stored."""
        code, out, err = run("request", "submit", *args)
        assert code == 2
        assert fragment in err
        code, out, _ = run("request", "list", "--json")
        assert json.loads(out) == []

    def test_unknown_kind_exits_2(self) -> None:
        """An unknown kind is a usage error (exit 2)."""
        code, _, _ = run(
            "request", "submit", "--controller", "lunexxa", "--kind", "delete-all",
            "--email", "a@example.com",
        )  # fmt: skip
        assert code == 2

    def test_show_lists_the_audit_events(self) -> None:
        """`request show --json` includes the request's audit events."""
        payload = self._submit()
        code, out, _ = run("request", "show", payload["id"], "--json")
        assert code == 0
        shown = json.loads(out)
        assert [e["action"] for e in shown["audit"]] == ["request_received"]

    def test_show_unknown_id_exits_2(self) -> None:
        """An unknown id is bad input."""
        code, _, err = run("request", "show", "0" * 32)
        assert code == 2
        assert "no request" in err

    def test_extend_sets_extended_due_date(self, dsar_home: Path) -> None:
        """Art. 12(3): extension to three months from receipt, within the first month."""
        from dsar.deadlines import compute_deadlines

        received = datetime.now(UTC) - timedelta(days=3)
        payload = self._submit("--received", received.isoformat())
        code, out, err = run(
            "request", "extend", payload["id"], "--reason", "many systems", "--json"
        )
        assert code == 0, err
        extended = json.loads(out)
        expected = compute_deadlines(
            regime="gdpr", received_at=received, country="AT", subdivision="9"
        ).extended_due_date
        assert expected is not None
        assert (extended["extended"], extended["extended_due_date"]) == (
            True,
            expected.isoformat(),
        )
        assert extended["effective_due_date"] == expected.isoformat()
        outbox = list((dsar_home / "outbox").glob("*.eml"))
        assert len(outbox) == 1  # Art. 12(3): the subject is told, with reasons
        assert "many systems" in outbox[0].read_text()
        code, _, err = run("request", "extend", payload["id"], "--reason", "again")
        assert code == 2

    def test_withdraw_closes_the_request_once(self) -> None:
        """A withdrawn request is final; withdrawing again is refused."""
        payload = self._submit()
        code, out, _ = run("request", "withdraw", payload["id"], "--json")
        assert (code, json.loads(out)["status"]) == (0, "withdrawn")
        code, _, err = run("request", "withdraw", payload["id"])
        assert code == 1
        assert "withdrawn" in err


class TestAuditVerify:
    def test_intact_chain_exits_0(self) -> None:
        """After normal work the chain verifies."""
        TestRequests()._submit()
        code, out, _ = run("audit", "verify", "--json")
        assert code == 0
        assert json.loads(out)["ok"] is True

    def test_tampered_chain_exits_1_naming_the_sequence_number(self, dsar_home: Path) -> None:
        """Editing a stored event is detected and the first broken seq is named."""
        TestRequests()._submit()
        TestRequests()._submit("--verified-by", "in person")
        db = sqlite3.connect(dsar_home / "dsar.db")
        db.execute("UPDATE auditevent SET action = 'forged' WHERE seq = 2")
        db.commit()
        db.close()
        code, _out, err = run("audit", "verify")
        assert code == 1
        assert "sequence number 2" in err


def test_commands_that_run_no_flow_do_not_import_prefect(tmp_path: Path) -> None:
    """`deadline`, `register`, `request` and `audit` stay fast: Prefect is never imported."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from dsar.cli.root import app\n"
        "r = CliRunner()\n"
        "for args in (['deadline', '--regime', 'gdpr', '--country', 'AT',"
        " '--received', '2026-03-05T10:00:00+01:00'],"
        " ['register', 'check', sys.argv[1]], ['request', 'list'], ['audit', 'verify']):\n"
        "    assert r.invoke(app, args).exit_code == 0, args\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'httpx')))\n"
    )
    env = {"DSAR_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(  # noqa: S603 - fixed interpreter and script
        [sys.executable, "-c", script, str(LUNEXXA)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert done.stdout.strip() == "[]"
