"""End to end: requests carried out by the flows against the emulators and a real SMTP server."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from dsar.audit import verify_chain
from dsar.enums import RequestKind, RequestStatus, StepStatus
from dsar.models import Export, ManualTask, Notice, Request, Step
from dsar.register import register_for
from dsar.settings import get_settings
from dsar.store import session_scope
from engine import lift_restriction, step_rows, steps, summary
from sandbox.seed import JONAS_EMAIL, MARIA_EMAIL, NEWSLETTER_ONLY_EMAIL
from tests.flows.conftest import run, submit
from tests.mailsink import Inbox

pytestmark = pytest.mark.integration


def _request(request_id: str) -> Request:
    with session_scope() as session:
        request = session.get(Request, request_id)
        assert request is not None
        return request


def _mails_to(inbox: Inbox, address: str) -> list[Any]:
    return [m for m in inbox.messages if address.lower() in str(m["To"]).lower()]


def _body(message: Any) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


def _complete_all_tasks(request_id: str) -> str:
    """Complete every manual task; a decision task is answered "not received"."""
    from flows.embedded import settle_open_tasks

    return settle_open_tasks(request_id, note="recipient confirmed by e-mail")[1]


def _steps(request_id: str) -> dict[str, set[str]]:
    """The request's steps: recipient → actions."""
    with session_scope() as session:
        rows = session.exec(select(Step).where(Step.request_id == request_id)).all()
    found: dict[str, set[str]] = {}
    for step in rows:
        found.setdefault(step.recipient, set()).add(step.action)
    return found


#: Lunexxa's recipients that only hold data of people who paid through them.
PAYMENT_RECIPIENTS = ("shopify_payments", "amazon_pay", "google_pay", "klarna", "paypal", "sofort")


class TestAccess:
    def test_access_builds_the_package_and_mails_the_download_link(
        self, engine_env: Inbox, sandbox: Any
    ) -> None:
        """Art. 15: data from every connector lands in one package; the subject gets a link."""
        request_id = submit(RequestKind.ACCESS, MARIA_EMAIL)
        assert run(request_id) == "completed"
        with session_scope() as session:
            export = session.exec(select(Export).where(Export.request_id == request_id)).one()
        with zipfile.ZipFile(export.path) as package:
            names = set(package.namelist())
            report = package.read("report.html").decode()
        assert {"report.html", "data.json"} <= names
        assert "Klaviyo" in report
        assert "Österreichische Datenschutzbehörde" in report
        answer = _mails_to(engine_env, MARIA_EMAIL)
        assert len(answer) == 1
        assert "https://privacy.lunexxa.example/exports/" in _body(answer[0])
        with session_scope() as session:
            assert verify_chain(session).ok
            steps_ = session.exec(select(Step).where(Step.request_id == request_id)).all()
        assert {s.recipient for s in steps_} == {"shopify", "klaviyo", "newsletter"}
        assert all("records" not in s.result for s in steps_)  # copies left the database

    def test_a_token_without_read_all_orders_is_named_in_the_report(
        self, engine_env: Inbox, sandbox: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without ``read_all_orders`` Shopify shows 60 days of orders: the report says so
        instead of passing an incomplete copy off as complete."""
        limited = "shpat_limited_0000000000000000"
        scopes = ("read_customers", "write_customers", "read_orders", "write_customer_data_erasure")
        sandbox.sandbox.shopify.grant(limited, scopes)
        monkeypatch.setenv("DSAR_SHOPIFY_TOKEN", limited)
        get_settings.cache_clear()
        request_id = submit(RequestKind.ACCESS, MARIA_EMAIL)
        assert run(request_id) == "completed"
        with session_scope() as session:
            export = session.exec(select(Export).where(Export.request_id == request_id)).one()
        with zipfile.ZipFile(export.path) as package:
            report = package.read("report.html").decode()
        assert "lacks the read_all_orders scope" in report


class TestErasure:
    def test_erasure_notifies_only_the_recipients_that_received_the_data(
        self, engine_env: Inbox, sandbox: Any
    ) -> None:
        """Maria paid only with PayPal and her parcels went with DHL Express. Art. 17(3)(b): her
        orders are kept (restricted); each processor sees one erasure; Art. 19 notices go to
        PayPal, the shipping partner (naming DHL Express) and the address validation, and to no
        other payment provider; Google Ads, which nothing on record ties to her, gets a decision
        task and no notice."""
        request_id = submit(RequestKind.ERASURE, MARIA_EMAIL)
        assert run(request_id) == "awaiting_manual"
        box = sandbox.sandbox
        assert box.shopify.calls.effects("erasure_requested") == 1
        assert box.klaviyo.calls.effects("deletion_requested") == 1
        assert box.mailchimp.calls.effects("member_deleted_permanently") == 1
        assert box.shopify.search(f"email:{MARIA_EMAIL}") == []
        register = register_for("lunexxa")
        steps = _steps(request_id)
        assert steps["paypal"] == {"manual"}
        assert steps["shipping_partner"] == {"manual"}
        assert steps["endereco"] == {"manual"}
        assert steps["google_ads"] == {"decide"}
        assert not {"shopify_payments", "amazon_pay", "google_pay", "klarna", "sofort"} & set(steps)
        notified = {
            r.key
            for r in register.recipients
            if r.notice.email and _mails_to(engine_env, r.notice.email)
        }
        assert notified == {"paypal", "shipping_partner", "endereco"}
        for key in notified:
            mails = _mails_to(engine_env, register.recipient(key).notice.email or "")
            assert any("erase" in _body(m).lower() for m in mails), key
        with session_scope() as session:
            task = session.exec(
                select(ManualTask).where(
                    ManualTask.request_id == request_id,
                    ManualTask.recipient == "shipping_partner",
                )
            ).one()
        assert "DHL Express" in task.instructions
        assert _complete_all_tasks(request_id) == "completed"
        answer = _body(_mails_to(engine_env, MARIA_EMAIL)[-1])
        assert "Art. 17(3)(b)" in answer
        assert register.recipient("paypal").name in answer
        assert register.recipient("klarna").name not in answer
        # her orders of 2024 and 2025 are kept seven years from the end of their years
        assert "Kept until: 31 December 2031" in answer
        assert "Kept until: 31 December 2032" in answer

    def test_a_newsletter_only_person_gets_no_payment_or_shipping_step(
        self, engine_env: Inbox, sandbox: Any
    ) -> None:
        """Nora never ordered: nothing goes to a payment provider, a carrier or the address
        validation; her newsletter lists are erased."""
        request_id = submit(RequestKind.ERASURE, NEWSLETTER_ONLY_EMAIL)
        run(request_id)
        steps = _steps(request_id)
        assert not set(PAYMENT_RECIPIENTS) & set(steps)
        assert "shipping_partner" not in steps
        assert "endereco" not in steps
        assert steps["klaviyo"] == {"erase"}
        assert steps["newsletter"] == {"erase"}
        register = register_for("lunexxa")
        for key in (*PAYMENT_RECIPIENTS, "shipping_partner", "endereco"):
            assert _mails_to(engine_env, register.recipient(key).notice.email or "") == []

    def test_a_decision_that_the_recipient_received_the_data_sends_its_notice(
        self, engine_env: Inbox, sandbox: Any
    ) -> None:
        """Staff find that Google Ads did have Maria's data: its notice goes out then."""
        from flows.embedded import decide_task

        request_id = submit(RequestKind.ERASURE, MARIA_EMAIL)
        run(request_id)
        ads = register_for("lunexxa").recipient("google_ads")
        assert _mails_to(engine_env, ads.notice.email or "") == []
        with session_scope() as session:
            task = session.exec(
                select(ManualTask).where(
                    ManualTask.request_id == request_id, ManualTask.recipient == "google_ads"
                )
            ).one()
        decide_task(task.id, received=True, note="she is in the Customer Match list")
        assert any(
            "erase" in _body(m).lower() for m in _mails_to(engine_env, ads.notice.email or "")
        )
        assert _steps(request_id)["google_ads"] == {"manual"}

    def test_rerun_after_a_crash_between_erasure_steps_erases_each_processor_once(
        self, engine_env: Inbox, sandbox: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A run killed after the first erasure resumes: done steps are skipped, none repeats."""
        original = steps._finish
        crashed: list[str] = []

        def crash_after_first_erasure(step_id: str, outcome: Any, *, result: dict) -> Step:
            step = original(step_id, outcome, result=result)
            if step.action == "erase" and not crashed:
                crashed.append(step.recipient)
                raise SystemExit("process killed")
            return step

        monkeypatch.setattr(steps, "_finish", crash_after_first_erasure)
        request_id = submit(RequestKind.ERASURE, MARIA_EMAIL)
        with pytest.raises(BaseException):  # noqa: B017, PT011 - the simulated kill
            run(request_id)
        monkeypatch.setattr(steps, "_finish", original)
        assert run(request_id) == "awaiting_manual"
        box = sandbox.sandbox
        assert box.shopify.calls.effects("erasure_requested") == 1
        assert box.klaviyo.calls.effects("deletion_requested") == 1
        assert box.mailchimp.calls.effects("member_deleted_permanently") == 1
        with session_scope() as session:
            notices = session.exec(select(Notice).where(Notice.request_id == request_id)).all()
        assert len(notices) == len({(n.recipient, n.purpose) for n in notices})

    def test_kill_after_the_processor_acted_but_before_recording_is_reconciled(
        self, engine_env: Inbox, sandbox: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A step left `running` is checked at the processor first: no second erasure call."""
        original = steps._call
        killed: list[str] = []

        async def kill_after_erase(step: Step, request: Request) -> Any:
            result = await original(step, request)
            if step.action == "erase" and step.recipient == "newsletter" and not killed:
                killed.append(step.recipient)
                raise SystemExit("process killed before the outcome was recorded")
            return result

        monkeypatch.setattr(steps, "_call", kill_after_erase)
        request_id = submit(RequestKind.ERASURE, MARIA_EMAIL)
        with pytest.raises(BaseException):  # noqa: B017, PT011 - the simulated kill
            run(request_id)
        monkeypatch.setattr(steps, "_call", original)
        with session_scope() as session:
            left = session.exec(
                select(Step).where(Step.request_id == request_id, Step.recipient == "newsletter")
            ).one()
        assert left.status is StepStatus.RUNNING
        assert run(request_id) == "awaiting_manual"
        box = sandbox.sandbox
        assert box.mailchimp.calls.effects("member_deleted_permanently") == 1
        assert box.shopify.calls.effects("erasure_requested") == 1
        assert box.klaviyo.calls.effects("deletion_requested") == 1

    @pytest.mark.parametrize("reached_the_processor", [True, False])
    def test_rerun_right_after_a_kill_mid_klaviyo_erasure_asks_for_one_deletion(
        self,
        engine_env: Inbox,
        sandbox: Any,
        monkeypatch: pytest.MonkeyPatch,
        reached_the_processor: bool,
    ) -> None:
        """Re-run at once after a kill during Klaviyo's erasure: a deletion job already under
        way is waited for, not asked for again; one that never reached Klaviyo is asked for
        after the wait. Either way Klaviyo gets exactly one job and the profile is gone."""
        monkeypatch.setenv("DSAR_RECONCILE_WAIT_SECONDS", "2")
        get_settings.cache_clear()
        original = steps._call
        killed: list[str] = []

        async def kill_during_erase(step: Step, request: Request) -> Any:
            if step.action == "erase" and step.recipient == "klaviyo" and not killed:
                killed.append(step.recipient)
                if reached_the_processor:
                    await original(step, request)
                raise SystemExit("process killed before the outcome was recorded")
            return await original(step, request)

        monkeypatch.setattr(steps, "_call", kill_during_erase)
        request_id = submit(RequestKind.ERASURE, MARIA_EMAIL)
        with pytest.raises(BaseException):  # noqa: B017, PT011 - the simulated kill
            run(request_id)
        monkeypatch.setattr(steps, "_call", original)
        assert killed == ["klaviyo"]
        assert run(request_id) == "awaiting_manual"
        box = sandbox.sandbox
        assert box.klaviyo.calls.effects("deletion_requested") == 1
        assert box.klaviyo.find("email", MARIA_EMAIL) == []


class TestIdentityGate:
    def test_unverified_requester_gets_a_challenge_and_no_data(
        self, engine_env: Inbox, sandbox: Any
    ) -> None:
        """Nobody gets data or changes anything before proving control of the address on file."""
        request_id = submit(RequestKind.ERASURE, MARIA_EMAIL, verified=False)
        assert run(request_id) == "verifying"
        assert _request(request_id).status is RequestStatus.VERIFYING
        mails = _mails_to(engine_env, MARIA_EMAIL)
        assert len(mails) == 1
        assert "/verify/" in _body(mails[0])
        box = sandbox.sandbox
        assert box.shopify.calls.effects("erasure_requested") == 0
        assert box.klaviyo.calls.effects("deletion_requested") == 0
        assert run(request_id) == "verifying"  # a second run sends no second challenge
        assert len(_mails_to(engine_env, MARIA_EMAIL)) == 1

    def test_address_held_nowhere_is_answered_without_processing(
        self, engine_env: Inbox, sandbox: Any
    ) -> None:
        """No processor holds the address: the answer says so and nothing is planned."""
        request_id = submit(RequestKind.ACCESS, "nobody@example.com", verified=False)
        assert run(request_id) == "completed"
        with session_scope() as session:
            assert session.exec(select(Step).where(Step.request_id == request_id)).all() == []
        assert len(_mails_to(engine_env, "nobody@example.com")) == 1


class TestObjectionAndRectification:
    def test_objection_stops_marketing_at_every_marketing_recipient(
        self, engine_env: Inbox, sandbox: Any
    ) -> None:
        """Art. 21(3): suppressed in Klaviyo, unsubscribed from the list, Google Ads as a task."""
        request_id = submit(RequestKind.OBJECTION, NEWSLETTER_ONLY_EMAIL)
        assert run(request_id) == "awaiting_manual"
        box = sandbox.sandbox
        member = box.mailchimp.get(NEWSLETTER_ONLY_EMAIL)
        assert member is not None
        assert member.status == "unsubscribed"
        profile = box.klaviyo.find("email", NEWSLETTER_ONLY_EMAIL)[0]
        assert profile.suppressions
        with session_scope() as session:
            tasks = session.exec(
                select(ManualTask).where(ManualTask.request_id == request_id)
            ).all()
        assert [t.recipient for t in tasks] == ["google_ads"]

    def test_an_objection_also_ends_sms_marketing_at_klaviyo(
        self, engine_env: Inbox, sandbox: Any
    ) -> None:
        """Klaviyo's suppression covers e-mail only: a person who also agreed to marketing texts
        is unsubscribed from SMS too, or the objection would stop one channel of two."""
        box = sandbox.sandbox
        (maria,) = box.klaviyo.find("email", MARIA_EMAIL)
        assert maria.sms_consent == "SUBSCRIBED"
        request_id = submit(RequestKind.OBJECTION, MARIA_EMAIL)
        run(request_id)
        deadline = time.monotonic() + 30
        while maria.sms_consent != "UNSUBSCRIBED" and time.monotonic() < deadline:
            time.sleep(0.1)
            box.klaviyo.settle()
        assert maria.sms_consent == "UNSUBSCRIBED"
        assert maria.suppressions  # and e-mail is suppressed, as before

    def test_rectification_changes_exactly_the_requested_field(
        self, engine_env: Inbox, sandbox: Any
    ) -> None:
        """Art. 16: the corrected last name reaches every connector that holds it."""
        before = sandbox.sandbox.shopify.search(f"email:{JONAS_EMAIL}")[0]
        first_name = before.first_name
        request_id = submit(
            RequestKind.RECTIFICATION, JONAS_EMAIL, changes={"last_name": "Beispiel-Neu"}
        )
        assert run(request_id) in ("awaiting_manual", "completed")
        after = sandbox.sandbox.shopify.search(f"email:{JONAS_EMAIL}")[0]
        assert (after.first_name, after.last_name) == (first_name, "Beispiel-Neu")
        profile = sandbox.sandbox.klaviyo.find("email", JONAS_EMAIL)[0]
        assert profile.last_name == "Beispiel-Neu"
        with session_scope() as session:
            failed = session.exec(
                select(Step).where(Step.request_id == request_id, Step.status == StepStatus.FAILED)
            ).all()
        assert failed == []


def test_artifact_free_of_personal_data(engine_env: Inbox, sandbox: Any) -> None:
    """The run's markdown summary names ids and counts, never the subject."""
    request_id = submit(RequestKind.ACCESS, MARIA_EMAIL)
    run(request_id)
    text = summary(request_id) + str(step_rows(request_id))
    assert "maria" not in text.lower()
    assert request_id[:8] in text


class TestRestrictionAndPortability:
    def test_restriction_marks_the_subject_in_every_system(
        self, engine_env: Inbox, sandbox: Any
    ) -> None:
        """Art. 18: Shopify tags and unsubscribes, Klaviyo suppresses, the list unsubscribes."""
        request_id = submit(RequestKind.RESTRICTION, MARIA_EMAIL)
        assert run(request_id) == "awaiting_manual"
        box = sandbox.sandbox
        customer = box.shopify.search(f"email:{MARIA_EMAIL}")[0]
        assert "dsar-restricted" in customer.tags
        assert box.mailchimp.get(MARIA_EMAIL).status == "unsubscribed"
        assert box.klaviyo.find("email", MARIA_EMAIL)[0].suppressions

    def test_lifting_a_restriction_tells_the_subject_first(
        self, engine_env: Inbox, sandbox: Any
    ) -> None:
        """Art. 18(3): the notice goes out before any processor lifts; marketing stays off."""
        import asyncio
        from datetime import UTC, datetime

        request_id = submit(RequestKind.RESTRICTION, MARIA_EMAIL)
        run(request_id)
        assert _complete_all_tasks(request_id) == "completed"
        lifted = asyncio.run(
            lift_restriction(
                request_id,
                reasons="the accuracy check is finished",
                lift_on=datetime.now(UTC).date(),
            )
        )
        assert "shopify" in lifted
        with session_scope() as session:
            notice = session.exec(
                select(Notice).where(
                    Notice.request_id == request_id, Notice.purpose == "lift_notice"
                )
            ).one()
            lifts = session.exec(
                select(Step).where(Step.request_id == request_id, Step.action == "lift_restriction")
            ).all()
        assert notice.sent_at is not None
        assert all(s.started_at is not None and s.started_at >= notice.sent_at for s in lifts)
        customer = sandbox.sandbox.shopify.search(f"email:{MARIA_EMAIL}")[0]
        assert "dsar-restricted" not in customer.tags
        assert customer.email_consent.state != "SUBSCRIBED"
        mails = _mails_to(engine_env, MARIA_EMAIL)
        assert "the accuracy check is finished" in _body(mails[-1])

    def test_portability_package_is_machine_readable_only(
        self, engine_env: Inbox, sandbox: Any
    ) -> None:
        """Art. 20: JSON and CSV of provided data, no report (EDPB: structured formats)."""
        request_id = submit(RequestKind.PORTABILITY, MARIA_EMAIL)
        assert run(request_id) == "completed"
        with session_scope() as session:
            export = session.exec(select(Export).where(Export.request_id == request_id)).one()
        with zipfile.ZipFile(export.path) as package:
            names = set(package.namelist())
        assert "data.json" in names
        assert "report.html" not in names
        assert any(name.endswith(".csv") for name in names)


def test_logs_of_a_whole_run_hold_no_personal_data(
    engine_env: Inbox,
    sandbox: Any,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Nothing the engine or Prefect logs during an erasure names the subject."""
    import logging

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # it logs every request URL
    request_id = submit(RequestKind.ERASURE, MARIA_EMAIL)
    run(request_id)
    captured = capfd.readouterr()
    engine_records = [r for r in caplog.records if not r.name.startswith("mail.")]  # the sink's own
    text = ("\n".join(r.getMessage() for r in engine_records) + captured.out + captured.err).lower()
    for secret in ("maria", "muster", "1234567"):
        assert secret not in text


def test_portability_is_transmitted_to_the_named_controller(
    engine_env: Inbox, sandbox: Any, webhook_receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    """Art. 20(2): the portable data goes by signed POST to the URL the subject gave, once."""
    base, received = webhook_receiver
    request_id = submit(RequestKind.PORTABILITY, MARIA_EMAIL, transmit_to=f"{base}/import")
    assert run(request_id) == "completed"
    assert run(request_id) == "completed"  # a re-run transmits nothing more
    assert len(received) == 1
    assert received[0]["type"] == "dsar.portability"
    assert received[0]["reference"] == request_id
    assert received[0]["data"]["sources"]


def test_art19_notice_by_webhook_reaches_the_recipient_once(
    engine_env: Inbox,
    sandbox: Any,
    webhook_receiver: tuple[str, list[dict[str, Any]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A recipient whose register entry names a webhook gets a signed JSON notice, not mail."""
    from tests.conftest import LUNEXXA

    base, received = webhook_receiver
    text = LUNEXXA.read_text().replace(
        "notice: {email: datenschutz@endereco.de}", f"notice: {{webhook: '{base}/art19'}}"
    )
    assert "/art19" in text
    registers = tmp_path / "registers"
    registers.mkdir()
    (registers / "lunexxa.yaml").write_text(text)
    monkeypatch.setenv("DSAR_REGISTERS_DIR", str(registers))
    get_settings.cache_clear()
    request_id = submit(RequestKind.ERASURE, MARIA_EMAIL)
    assert run(request_id) == "awaiting_manual"
    assert [r["type"] for r in received] == ["dsar.art19"]
    assert received[0]["action"] == "erase"
    assert received[0]["subject"]["email"] == MARIA_EMAIL
    with session_scope() as session:
        notice = session.exec(
            select(Notice).where(Notice.request_id == request_id, Notice.recipient == "endereco")
        ).one()
    assert (notice.channel, notice.status) == ("webhook", "sent")


def test_request_show_lists_steps_and_the_evidence_per_recipient(
    engine_env: Inbox, sandbox: Any
) -> None:
    """`dsar request show ID --json`: each step (recipient, action, status), and per recipient
    whether it received the data and why."""
    import json

    from typer.testing import CliRunner

    from dsar.cli import app

    request_id = submit(RequestKind.ERASURE, MARIA_EMAIL)
    run(request_id)
    result = CliRunner().invoke(app, ["request", "show", request_id, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert {"recipient": "paypal", "action": "manual", "status": "pending"} in shown["steps"]
    assert {"recipient": "google_ads", "action": "decide", "status": "planned"} in shown["steps"]
    recipients = shown["recipients"]
    assert recipients["paypal"]["verdict"] == "received"
    assert "order #1001, paid with paypal" in recipients["paypal"]["evidence"]
    assert recipients["shipping_partner"]["evidence"][0].endswith("shipped by DHL Express")
    assert recipients["klarna"] == {
        "verdict": "not_received",
        "evidence": ["no order was paid with klarna"],
    }
    assert recipients["google_ads"]["verdict"] == "undetermined"
    assert MARIA_EMAIL not in result.output


def test_deciding_a_task_that_asks_for_no_decision_is_refused_with_exit_code_2(
    engine_env: Inbox, sandbox: Any
) -> None:
    from typer.testing import CliRunner

    from dsar.cli import app

    request_id = submit(RequestKind.ERASURE, MARIA_EMAIL)
    run(request_id)
    with session_scope() as session:
        paypal = session.exec(
            select(ManualTask).where(
                ManualTask.request_id == request_id, ManualTask.recipient == "paypal"
            )
        ).one()
    args = ["tasks", "decide", paypal.id, "--not-received", "--note", "checked"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "asks for no decision" in result.output
    unknown = CliRunner().invoke(app, ["tasks", "decide", "nope", "--received", "--note", "x"])
    assert unknown.exit_code == 2
    assert "no manual task" in unknown.output
