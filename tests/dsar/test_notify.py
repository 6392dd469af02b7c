"""Notices reach people once, with evidence, without leaking addresses; signatures hold."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from structlog.testing import capture_logs

from connectors.webhook import post_signed
from dsar.audit import events_for
from dsar.enums import Regime
from dsar.errors import DsarError, InputError
from dsar.models import Notice
from dsar.notify import (
    ART19_ACTIONS,
    SIGNATURE_HEADER,
    TEMPLATE_DIR,
    TEMPLATES,
    VARIABLES,
    FileMailer,
    NotificationError,
    SignatureError,
    SmtpMailer,
    art19_webhook_payload,
    mailer_from_settings,
    render,
    send_notice,
    sign_payload,
    verify_signature,
)
from dsar.register import load_register
from dsar.settings import Settings
from tests.conftest import LUNEXXA
from tests.factories import make_request
from tests.mailsink import REFUSED, Inbox, free_port

SUBJECT_EMAIL = "subject@example.com"

AUTHORITY = {
    "name": "Österreichische Datenschutzbehörde",
    "address": "Barichgasse 40-42, 1030 Wien",
    "url": "https://www.dsb.gv.at",
}
CONTROLLER = {
    "name": "Lunexxa GmbH",
    "privacy_email": "privacy@lunexxa.example",
    "supervisory_authority": AUTHORITY,
}

#: Every variable any template uses; each template receives all of them.
CONTEXT: dict[str, Any] = {
    "controller": CONTROLLER,
    "reference": "4f2a9c",
    "kind": "erasure",
    "received_on": date(2026, 3, 5),
    "verify_url": "https://dsar.example/verify/TOKEN123",
    "code": "482913",
    "expires_at": datetime(2026, 3, 8, 9, 0, tzinfo=UTC),
    "respond_by": date(2026, 4, 20),
    "download_url": "https://dsar.example/download/DL123",
    "download_expires": datetime(2026, 3, 20, 9, 0, tzinfo=UTC),
    "recipients": [
        {"name": "Klaviyo, Inc.", "country": "US", "evidence": ["its records hold the person"]}
    ],
    "other_recipients": [{"name": "Klarna Bank AB (publ)", "country": "SE"}],
    "notified_recipients": ["Paketdienst GmbH"],
    "decision": "granted",
    "appeal_received_on": date(2026, 3, 20),
    "new_reference": "9e1b77",
    "fields": ["shipping address"],
    "erased": [{"recipient": "Klaviyo, Inc.", "categories": ["contact", "marketing"]}],
    "kept": [
        {
            "recipient": "Shopify",
            "categories": ["invoices"],
            "ground": "Art. 17(3)(b) GDPR: tax retention — § 132 BAO",
            "until": date(2033, 12, 31),
        }
    ],
    "restricted": [{"recipient": "Shopify", "categories": ["orders"]}],
    "stopped": ["Klaviyo, Inc."],
    "ground": "excessive",
    "reasons": "The confirmation link expired unanswered.",
    "new_due_date": date(2026, 6, 5),
    "lift_on": date(2026, 5, 4),
    "categories": ["contact"],
    "action": "erase",
    "recipient_name": "Paketdienst GmbH",
    "subject_email": SUBJECT_EMAIL,
    "changes": {},
}


# --------------------------------------------------------------------------------------------
# A real SMTP server
# --------------------------------------------------------------------------------------------


def _send(session: Session, mailer: Any, request_id: str, **overrides: Any) -> Notice:
    fields: dict[str, Any] = {
        "request_id": request_id,
        "recipient": "subject",
        "purpose": "answer",
        "to": SUBJECT_EMAIL,
        "subject": "Your data has been erased",
        "body": "Hello,\n\nwe erased your data.\n",
        "mailer": mailer,
        "sender": "privacy@lunexxa.example",
    }
    fields.update(overrides)
    return send_notice(session, **fields)


class TestSendNotice:
    def test_notice_arrives_with_subject_body_and_headers(
        self, session: Session, smtp: tuple[Inbox, str]
    ) -> None:
        """The message the server receives is the one rendered, marked automatic, with its id."""
        inbox, url = smtp
        request = make_request(session)
        notice = _send(session, SmtpMailer(url, timeout=5), request.id)
        assert len(inbox.messages) == 1
        received = inbox.messages[0]
        assert inbox.envelopes[0].rcpt_tos == [SUBJECT_EMAIL]
        assert received["Subject"] == "Your data has been erased"
        assert received["From"] == "privacy@lunexxa.example"
        assert received["To"] == SUBJECT_EMAIL
        assert received["Auto-Submitted"] == "auto-generated"
        assert received["X-DSAR-Reference"] == request.id
        content = received.get_content().replace("\r\n", "\n")
        assert content.strip() == "Hello,\n\nwe erased your data."
        assert notice.status == "sent"
        assert notice.message_id == received["Message-ID"]
        assert notice.sent_at is not None

    def test_sent_notice_is_audited_without_the_address(
        self, session: Session, smtp: tuple[Inbox, str]
    ) -> None:
        """The trail says who (register key) and why (purpose), never where the mail went."""
        _, url = smtp
        request = make_request(session)
        with capture_logs() as logs:
            _send(session, SmtpMailer(url, timeout=5), request.id, recipient="klaviyo")
        events = [e for e in events_for(session, request.id) if e.action == "notice_sent"]
        assert [e.data for e in events] == [
            {"recipient": "klaviyo", "purpose": "answer", "channel": "email"}
        ]
        assert [e["recipient"] for e in logs if e["event"] == "notice_sent"] == ["klaviyo"]
        assert SUBJECT_EMAIL not in repr(logs)

    def test_resending_the_same_notice_sends_nothing_more(
        self, session: Session, smtp: tuple[Inbox, str]
    ) -> None:
        """(request, recipient, purpose) is notified once, however often a run repeats."""
        inbox, url = smtp
        request = make_request(session)
        first = _send(session, SmtpMailer(url, timeout=5), request.id)
        again = _send(session, SmtpMailer(url, timeout=5), request.id, body="changed")
        assert len(inbox.messages) == 1
        assert again.id == first.id
        assert again.message_id == first.message_id
        assert len(session.exec(select(Notice)).all()) == 1

    def test_smtp_down_marks_the_notice_failed_without_addresses(self, session: Session) -> None:
        """Delivery failure is stored (and survives the raised error) with no address in it."""
        request = make_request(session)
        session.commit()
        down = SmtpMailer(f"smtp://127.0.0.1:{free_port()}", timeout=5)
        with pytest.raises(NotificationError) as raised:
            _send(session, down, request.id, commit=True)
        assert isinstance(raised.value, DsarError)
        assert SUBJECT_EMAIL not in str(raised.value)
        session.rollback()
        with Session(session.get_bind()) as fresh:
            stored = fresh.exec(select(Notice)).one()
            assert stored.status == "failed"
            assert stored.error
            assert "@" not in stored.error
            assert stored.message_id is None

    def test_refused_recipient_error_hides_the_address(
        self, session: Session, smtp: tuple[Inbox, str]
    ) -> None:
        """SMTP replies quote the mailbox; the stored error and the exception must not."""
        inbox, url = smtp
        request = make_request(session)
        with pytest.raises(NotificationError) as raised:
            _send(session, SmtpMailer(url, timeout=5), request.id, to=REFUSED)
        notice = session.exec(select(Notice)).one()
        assert notice.status == "failed"
        assert "550" in (notice.error or "")
        assert REFUSED not in (notice.error or "")
        assert REFUSED not in str(raised.value)
        assert inbox.messages == []

    def test_german_mail_arrives_intact(self, session: Session, smtp: tuple[Inbox, str]) -> None:
        """Umlauts survive the trip in subject and body, whatever the server supports."""
        inbox, url = smtp
        request = make_request(session)
        subject, body = render("extension", "de", **CONTEXT)
        _send(session, SmtpMailer(url, timeout=5), request.id, subject=subject, body=body)
        received = inbox.messages[0]
        assert received["Subject"] == subject
        assert "benötigen" in received["Subject"]
        assert "Gründe" in received.get_content()

    def test_header_injection_is_refused_and_recorded(
        self, session: Session, smtp: tuple[Inbox, str]
    ) -> None:
        """A line break in an address cannot smuggle in headers; nothing is sent."""
        inbox, url = smtp
        request = make_request(session)
        with pytest.raises(NotificationError):
            _send(
                session,
                SmtpMailer(url, timeout=5),
                request.id,
                to=f"{SUBJECT_EMAIL}\nBcc: x@evil.example",
            )
        assert session.exec(select(Notice)).one().status == "failed"
        assert inbox.messages == []

    def test_failed_notice_is_sent_on_the_next_attempt(
        self, session: Session, smtp: tuple[Inbox, str]
    ) -> None:
        """Only a sent notice is final; a failed one is retried by the next run."""
        inbox, url = smtp
        request = make_request(session)
        down = SmtpMailer(f"smtp://127.0.0.1:{free_port()}", timeout=5)
        with pytest.raises(NotificationError):
            _send(session, down, request.id)
        notice = _send(session, SmtpMailer(url, timeout=5), request.id)
        assert notice.status == "sent"
        assert notice.error is None
        assert len(inbox.messages) == 1


class TestMailers:
    def test_file_mailer_writes_a_parseable_eml_named_without_the_address(
        self, session: Session, tmp_path: Path
    ) -> None:
        """The outbox holds one .eml per message, readable by any mail parser."""
        outbox = tmp_path / "outbox"
        request = make_request(session)
        notice = _send(session, FileMailer(outbox), request.id)
        files = list(outbox.iterdir())
        assert len(files) == 1
        assert files[0].suffix == ".eml"
        assert "subject" not in files[0].name
        assert "@" not in files[0].name
        parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
        assert parsed["Subject"] == "Your data has been erased"
        assert parsed["To"] == SUBJECT_EMAIL
        assert parsed["Message-ID"] == notice.message_id

    def test_settings_pick_smtp_when_configured_else_the_outbox(self, tmp_path: Path) -> None:
        """DSAR_SMTP_URL selects SMTP; without it mail goes to the outbox under the home."""
        outbox = mailer_from_settings(Settings(home=tmp_path))
        assert isinstance(outbox, FileMailer)
        assert outbox.outbox_dir == tmp_path / "outbox"
        smtp = mailer_from_settings(Settings(smtp_url="smtp+starttls://mail.example:2525"))
        assert isinstance(smtp, SmtpMailer)
        assert (smtp.scheme, smtp.host, smtp.port) == ("smtp+starttls", "mail.example", 2525)

    def test_smtp_url_defaults_ports_and_hides_the_password(self) -> None:
        """smtps means 465; the repr never shows the credentials."""
        mailer = SmtpMailer("smtps://user:s3cret%21@mail.example")
        assert mailer.port == 465
        assert "s3cret" not in repr(mailer)
        assert "user" not in repr(mailer)

    def test_unknown_smtp_scheme_is_refused(self) -> None:
        """A typo in DSAR_SMTP_URL is reported, without echoing the URL."""
        with pytest.raises(InputError) as raised:
            SmtpMailer("http://user:pw@mail.example")
        assert "pw" not in str(raised.value)


class TestTemplates:
    @pytest.mark.parametrize("language", ["en", "de"])
    @pytest.mark.parametrize("template", TEMPLATES)
    def test_every_template_renders_in_english_and_german(
        self, template: str, language: str
    ) -> None:
        """Each message exists in both languages and uses only variables it is given."""
        assert (TEMPLATE_DIR / f"{template}.{language}.txt.j2").is_file()
        subject, body = render(template, language, **CONTEXT)
        assert subject
        assert "\n" not in subject
        assert CONTEXT["reference"] in subject + body
        assert "{{" not in body
        assert "{%" not in body

    @pytest.mark.parametrize("template", TEMPLATES)
    def test_declared_variables_are_exactly_what_a_template_needs(self, template: str) -> None:
        """VARIABLES is the contract: enough to render, and none of them superfluous."""
        needed = VARIABLES[template]
        render(template, "en", **{k: CONTEXT[k] for k in needed})
        for missing in needed:
            context = {k: CONTEXT[k] for k in needed if k != missing}
            with pytest.raises(NotificationError):
                render(template, "de", **context)

    @pytest.mark.parametrize("action", ART19_ACTIONS)
    def test_every_art19_action_has_words_in_both_languages(self, action: str) -> None:
        """A recipient is told what to do, whatever the action and language."""
        for language in ("en", "de"):
            subject, _ = render("art19", language, **{**CONTEXT, "action": action})
            assert subject

    def test_german_template_is_german(self) -> None:
        """The requester's language is used where a translation exists."""
        subject, body = render("extension", "de", **CONTEXT)
        assert "mehr Zeit" in subject
        assert "5. Juni 2026" in body

    def test_missing_variable_is_an_error_not_a_blank(self) -> None:
        """A letter with a hole in it is not sent (StrictUndefined)."""
        context = {k: v for k, v in CONTEXT.items() if k != "new_due_date"}
        with pytest.raises(NotificationError, match="new_due_date"):
            render("extension", "en", **context)

    @pytest.mark.parametrize("language", ["fr", "", "../../etc", "de-AT"])
    def test_language_falls_back_sensibly(self, language: str) -> None:
        """An untranslated language gets English; a regional variant gets its base language."""
        subject, _ = render("rejection", language, **CONTEXT)
        expected = "nicht nachkommen" if language == "de-AT" else "cannot act on it"
        assert expected in subject

    def test_unknown_template_is_refused(self) -> None:
        """Only the known messages can be rendered."""
        with pytest.raises(NotificationError):
            render("../report", "en", **CONTEXT)

    @pytest.mark.parametrize("language", ["en", "de"])
    def test_rejection_names_the_supervisory_authority_and_remedies(self, language: str) -> None:
        """Art. 12(4): reasons, the authority from the register, and a judicial remedy."""
        _, body = render("rejection", language, **CONTEXT)
        assert AUTHORITY["name"] in body
        assert AUTHORITY["url"] in body
        assert CONTEXT["reasons"] in body
        assert "Art. 77" in body
        assert "Art. 79" in body

    def test_us_rejection_names_the_authority_without_gdpr_articles(self) -> None:
        """A CCPA refusal points to the enforcing authority, not to GDPR remedies."""
        _, body = render("rejection", "en", **{**CONTEXT, "regime": Regime.CCPA})
        assert AUTHORITY["name"] in body
        assert "GDPR" not in body.split("Reasons:")[1]

    def test_register_controller_renders_directly(self) -> None:
        """Templates take the register's own Controller model, authority included."""
        controller = load_register(LUNEXXA).controller
        _, body = render(
            "rejection", controller.default_language, **{**CONTEXT, "controller": controller}
        )
        assert controller.supervisory_authority.name in body
        assert str(controller.privacy_email) in body

    def test_verification_carries_link_code_and_expiry(self) -> None:
        """The requester gets the link, the code and when both stop working."""
        _, body = render("verification", "en", **CONTEXT)
        assert CONTEXT["verify_url"] in body
        assert CONTEXT["code"] in body
        assert "8 March 2026, 09:00 (UTC)" in body

    def test_erasure_answer_names_what_was_kept_why_and_until_when(self) -> None:
        """Art. 17(3): retained data is named with its legal ground and retention end."""
        _, body = render("answer_erasure", "en", **CONTEXT)
        assert "§ 132 BAO" in body
        assert "31 December 2033" in body
        assert "Klaviyo, Inc.: contact, marketing" in body
        assert "Paketdienst GmbH" in body  # Art. 19 sentence 2

    def test_access_answer_names_recipients_with_their_country(self) -> None:
        """Art. 15(1)(c), CJEU C-154/21: recipients by identity, with where they are; those
        that received this person's data with the evidence, the others apart."""
        _, body = render("answer_access", "en", **CONTEXT)
        assert "Klaviyo, Inc. (US): its records hold the person" in body
        received, others = body.split("our records do not show that they received yours")
        assert "Klarna Bank AB (publ) (SE)" in others
        assert "Klarna" not in received
        assert CONTEXT["download_url"] in body

    def test_art19_notice_identifies_the_subject_in_the_body_only(self) -> None:
        """The recipient must find the records; the subject line stays free of the address."""
        context = {**CONTEXT, "action": "rectify", "changes": {"city": "Graz"}}
        subject, body = render("art19", "en", **context)
        assert SUBJECT_EMAIL in body
        assert SUBJECT_EMAIL not in subject
        assert "city: Graz" in body
        assert "correct the data" in body

    def test_unknown_art19_action_is_an_error(self) -> None:
        """A notice that cannot say what to do is not sent."""
        with pytest.raises(NotificationError, match="teleport"):
            render("art19", "en", **{**CONTEXT, "action": "teleport"})

    def test_lift_restriction_warns_before_the_date(self) -> None:
        """Art. 18(3): the subject is told before the restriction is lifted, and when."""
        _, body = render("lift_restriction", "en", **CONTEXT)
        assert "Art. 18(3)" in body
        assert "4 May 2026" in body


SECRET = "whsec_test_current"
BODY = b'{"kind":"erasure","reference":"4f2a9c"}'
NOW = 1_780_000_000


class TestSignatures:
    def test_valid_signature_is_accepted(self) -> None:
        """A body signed with the shared secret verifies and yields its timestamp."""
        header = sign_payload(SECRET, BODY, NOW)
        assert header.startswith(f"t={NOW},v1=")
        assert verify_signature(SECRET, header, BODY, now=NOW + 5) == NOW

    def test_wrong_secret_is_rejected(self) -> None:
        """Someone without the secret cannot produce a valid header."""
        header = sign_payload("another-secret", BODY, NOW)
        with pytest.raises(SignatureError, match="does not match"):
            verify_signature(SECRET, header, BODY, now=NOW)

    def test_tampered_body_is_rejected(self) -> None:
        """The signature covers every byte of the body."""
        header = sign_payload(SECRET, BODY, NOW)
        with pytest.raises(SignatureError, match="does not match"):
            verify_signature(SECRET, header, BODY.replace(b"erasure", b"access"), now=NOW)

    def test_stale_timestamp_is_rejected_as_a_replay(self) -> None:
        """Older than the 300 s window: a captured request cannot be replayed later."""
        header = sign_payload(SECRET, BODY, NOW)
        assert verify_signature(SECRET, header, BODY, now=NOW + 300) == NOW
        with pytest.raises(SignatureError, match="too old"):
            verify_signature(SECRET, header, BODY, now=NOW + 301)

    def test_future_timestamp_beyond_skew_is_rejected(self) -> None:
        """Up to 30 s of clock skew is tolerated, no more."""
        header = sign_payload(SECRET, BODY, NOW + 30)
        assert verify_signature(SECRET, header, BODY, now=NOW) == NOW + 30
        ahead = sign_payload(SECRET, BODY, NOW + 31)
        with pytest.raises(SignatureError, match="future"):
            verify_signature(SECRET, ahead, BODY, now=NOW)

    def test_several_v1_and_several_secrets_allow_rotation(self) -> None:
        """During rotation a sender may sign with both secrets and a receiver accept both."""
        old = sign_payload("whsec_old", BODY, NOW).split(",")[1]
        new = sign_payload(SECRET, BODY, NOW).split(",")[1]
        header = f"t={NOW},{old},{new}"
        assert verify_signature(SECRET, header, BODY, now=NOW) == NOW
        assert verify_signature(["whsec_old"], header, BODY, now=NOW) == NOW
        only_old = f"t={NOW},{old}"
        assert verify_signature([SECRET, "whsec_old"], only_old, BODY, now=NOW) == NOW
        with pytest.raises(SignatureError):
            verify_signature([SECRET], only_old, BODY, now=NOW)

    @pytest.mark.parametrize(
        "header",
        [
            None,
            "",
            "garbage",
            "t=abc,v1=00",
            f"v1={'0' * 64}",
            f"t={NOW}",
            f"t={NOW},t={NOW},v1={'0' * 64}",
            f"t={NOW},v1=ÿÿÿ",
        ],
    )
    def test_garbage_header_is_rejected(self, header: str | None) -> None:
        """Missing or malformed headers fail with a reason, never with a crash."""
        with pytest.raises(SignatureError) as raised:
            verify_signature(SECRET, header, BODY, now=NOW)
        assert raised.value.reason

    def test_empty_secret_refuses_to_verify(self) -> None:
        """An unconfigured secret never turns verification into "anything goes"."""
        header = sign_payload(SECRET, BODY, NOW)
        with pytest.raises(SignatureError, match="no signing secret"):
            verify_signature("", header, BODY, now=NOW)

    def test_webhook_notice_is_signed_so_the_receiver_can_verify_it(self) -> None:
        """connectors.webhook posts exactly the bytes it signed, with the notice id as key."""
        seen: list[httpx.Request] = []

        def receiver(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            verify_signature(SECRET, request.headers[SIGNATURE_HEADER], request.content, now=NOW)
            return httpx.Response(202, headers={"X-Request-Id": "rcv-1"})

        payload = art19_webhook_payload(
            notice_id="n1",
            reference="4f2a9c",
            kind="erasure",
            action="erase",
            categories=["contact"],
            subject_email=SUBJECT_EMAIL,
            controller="lunexxa",
        )
        reference = asyncio.run(
            post_signed(
                "https://hooks.example/dsar?x=1",
                payload,
                secret=SECRET,
                idempotency_key="n1",
                timestamp=NOW,
                transport=httpx.MockTransport(receiver),
            )
        )
        assert reference == "webhook:rcv-1"
        assert seen[0].url == httpx.URL("https://hooks.example/dsar?x=1")
        assert seen[0].headers["Idempotency-Key"] == "n1"
