"""The identity gate stops impostors: nothing proceeds until a contact point on file answers."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from dsar.audit import events_for
from dsar.contact import (
    accept_authenticated_channel,
    authenticated_channel_reason,
    contact_on_file,
    flag_delivery_override,
    is_authenticated_channel,
)
from dsar.enums import Channel, RequestStatus
from dsar.errors import IdentityError
from dsar.identity import (
    BY_CODE,
    BY_LINK,
    REASON_EXPIRED,
    REASON_TOO_MANY_CODES,
    check_token,
    expire_challenges,
    issue_challenge,
    verification_url,
    verify_code,
    verify_token,
)
from dsar.models import Request, VerificationChallenge
from tests.factories import make_request

VIENNA = "Europe/Vienna"
#: 10:00 in Vienna on 6 March 2026.
T0 = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)


def _request(session: Session, **overrides: Any) -> Request:
    fields: dict[str, Any] = {"channel": Channel.CONTACT_FORM}
    fields.update(overrides)
    return make_request(session, **fields)


def _issue(
    session: Session, request: Request, *, now: datetime = T0, **kwargs: Any
) -> tuple[VerificationChallenge, str, str]:
    issued = issue_challenge(session, request=request, tz=VIENNA, now=now, **kwargs)
    session.commit()
    return issued


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


class TestIssueChallenge:
    def test_challenge_moves_request_to_verifying_and_opens_a_clock_stop(
        self, session: Session
    ) -> None:
        """Asking for proof stops the clock from the day the question is sent (EDPB §159)."""
        request = _request(session)
        _issue(session, request)
        assert request.status == RequestStatus.VERIFYING
        assert request.clock_stops == [{"start": "2026-03-06", "end": None}]

    def test_clock_stop_starts_on_the_controllers_local_date(self, session: Session) -> None:
        """22:30 UTC on 9 June is already 10 June in Vienna, so the stop starts on 10 June."""
        request = _request(session, received_on=date(2026, 6, 9))
        _issue(session, request, now=datetime(2026, 6, 9, 22, 30, tzinfo=UTC))
        assert request.clock_stops[0]["start"] == "2026-06-10"

    def test_zone_defaults_to_the_controllers_register(self, session: Session) -> None:
        """Without an explicit zone, the controller's register says where "today" is."""
        request = _request(session, controller="lunexxa", received_on=date(2026, 6, 9))
        issue_challenge(session, request=request, now=datetime(2026, 6, 9, 22, 30, tzinfo=UTC))
        assert request.clock_stops[0]["start"] == "2026-06-10"  # Europe/Vienna

    def test_stored_hashes_never_equal_the_plain_token_or_code(self, session: Session) -> None:
        """Only hashes are stored, the code's keyed: a bare sha256 of 6 digits is reversible."""
        request = _request(session)
        _, token, code = _issue(session, request)
        stored = session.exec(select(VerificationChallenge)).one()
        assert len(code) == 6
        assert code.isdigit()
        assert len(token) >= 40
        assert token not in (stored.token_hash, stored.code_hash)
        assert code not in (stored.token_hash, stored.code_hash)
        assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert stored.code_hash != hashlib.sha256(code.encode()).hexdigest()

    def test_reissuing_revokes_the_earlier_challenge_and_keeps_one_clock_stop(
        self, session: Session
    ) -> None:
        """Only the latest message works, and a re-sent question continues the same stop."""
        request = _request(session)
        _, first_token, _ = _issue(session, request)
        _, second_token, _ = _issue(session, request, now=T0 + timedelta(days=1))
        with pytest.raises(IdentityError, match="invalid or has already been used"):
            verify_token(session, token=first_token, now=T0 + timedelta(days=1), tz=VIENNA)
        assert len(request.clock_stops) == 1
        verify_token(session, token=second_token, now=T0 + timedelta(days=1), tz=VIENNA)
        assert request.verified_by == BY_LINK

    def test_closed_request_gets_no_challenge(self, session: Session) -> None:
        """A rejected or withdrawn request cannot be verified any more."""
        request = _request(session, status=RequestStatus.WITHDRAWN)
        with pytest.raises(IdentityError, match="withdrawn"):
            issue_challenge(session, request=request, tz=VIENNA, now=T0)

    def test_verification_url_points_at_the_public_verify_page(self) -> None:
        """The link is {public_url}/verify/{token}, whatever trailing slash the setting has."""
        assert verification_url("https://dsar.example/", "tok") == "https://dsar.example/verify/tok"


class TestVerify:
    def test_correct_token_verifies_and_closes_the_clock_stop(self, session: Session) -> None:
        """The answer day closes the stop (both days count) and the request is verified."""
        request = _request(session)
        _, token, _ = _issue(session, request)
        answered = datetime(2026, 3, 8, 23, 30, tzinfo=UTC)  # 9 March in Vienna
        verified = verify_token(session, token=token, now=answered, tz=VIENNA)
        session.commit()
        assert verified.id == request.id
        assert verified.verified_at == answered
        assert verified.verified_by == BY_LINK
        assert verified.clock_stops == [{"start": "2026-03-06", "end": "2026-03-09"}]
        assert "identity_verified" in [e.action for e in events_for(session, request.id)]

    def test_correct_code_verifies_even_when_typed_with_spaces(self, session: Session) -> None:
        """A code copied as "123 456" is the same code."""
        request = _request(session)
        _, _, code = _issue(session, request)
        verified = verify_code(
            session, request_id=request.id, code=f"{code[:3]} {code[3:]}", now=T0, tz=VIENNA
        )
        assert verified.verified_by == BY_CODE
        assert verified.clock_stops[0]["end"] == "2026-03-06"

    def test_used_token_cannot_be_reused(self, session: Session) -> None:
        """A link works once; the second click fails like an unknown token."""
        request = _request(session)
        _, token, _ = _issue(session, request)
        verify_token(session, token=token, now=T0, tz=VIENNA)
        session.commit()
        with pytest.raises(IdentityError) as reused:
            verify_token(session, token=token, now=T0, tz=VIENNA)
        with pytest.raises(IdentityError) as unknown:
            verify_token(session, token="not-a-token", now=T0, tz=VIENNA)
        assert str(reused.value) == str(unknown.value)

    def test_expired_token_is_refused_and_request_stays_unverified(self, session: Session) -> None:
        """After the TTL the link no longer proves anything."""
        request = _request(session)
        _, token, _ = _issue(session, request, ttl_hours=72)
        with pytest.raises(IdentityError, match="expired"):
            verify_token(session, token=token, now=T0 + timedelta(hours=72), tz=VIENNA)
        assert request.verified_at is None
        assert request.status == RequestStatus.VERIFYING

    def test_wrong_code_three_times_rejects_the_request(self, session: Session) -> None:
        """Guessing is cut off at max_attempts and the request is rejected with the reason."""
        request = _request(session)
        _, _, code = _issue(session, request, max_attempts=3)
        for left in (2, 1):
            with pytest.raises(IdentityError, match=f"{left} attempt"):
                verify_code(session, request_id=request.id, code=_wrong(code), now=T0, tz=VIENNA)
            assert request.status == RequestStatus.VERIFYING
        with pytest.raises(IdentityError, match="rejected"):
            verify_code(session, request_id=request.id, code=_wrong(code), now=T0, tz=VIENNA)
        assert request.status == RequestStatus.REJECTED
        assert request.status_reason == REASON_TOO_MANY_CODES
        assert request.verified_at is None
        with pytest.raises(IdentityError):
            verify_code(session, request_id=request.id, code=code, now=T0, tz=VIENNA)

    def test_wrong_code_attempts_survive_a_rollback(self, session: Session) -> None:
        """A caller that rolls back on error must not reset the attempt counter."""
        request = _request(session)
        _, _, code = _issue(session, request)
        with pytest.raises(IdentityError):
            verify_code(session, request_id=request.id, code=_wrong(code), now=T0, tz=VIENNA)
        session.rollback()
        with Session(session.get_bind()) as fresh:
            stored = fresh.exec(select(VerificationChallenge)).one()
            assert stored.attempts == 1

    def test_code_for_an_unknown_request_fails_like_any_invalid_code(
        self, session: Session
    ) -> None:
        """Probing request ids reveals nothing."""
        with pytest.raises(IdentityError, match="invalid or has already been used"):
            verify_code(session, request_id="0" * 32, code="123456", now=T0, tz=VIENNA)


class TestCheckToken:
    def test_checking_a_link_changes_nothing_and_the_link_still_verifies(
        self, session: Session
    ) -> None:
        """Opening the link (a mail scanner, a preview) names the request but neither uses the
        link nor verifies the request; pressing Confirm afterwards still works."""
        request = _request(session)
        _, token, _ = _issue(session, request)
        for _ in range(3):
            assert check_token(session, token=token, now=T0).id == request.id
        session.commit()
        assert request.verified_at is None
        assert request.status == RequestStatus.VERIFYING
        assert "identity_verified" not in [e.action for e in events_for(session, request.id)]
        assert verify_token(session, token=token, now=T0, tz=VIENNA).verified_by == BY_LINK

    def test_check_fails_exactly_where_verification_would(self, session: Session) -> None:
        """Unknown, used and expired links fail the check with the same errors as a click."""
        request = _request(session)
        _, token, _ = _issue(session, request, ttl_hours=72)
        late = T0 + timedelta(hours=72)
        for moment, candidate in ((T0, "not-a-token"), (late, token)):
            with pytest.raises(IdentityError) as checked:
                check_token(session, token=candidate, now=moment)
            with pytest.raises(IdentityError) as clicked:
                verify_token(session, token=candidate, now=moment, tz=VIENNA)
            assert str(checked.value) == str(clicked.value)
        verify_token(session, token=token, now=T0, tz=VIENNA)
        session.commit()
        with pytest.raises(IdentityError) as used:
            check_token(session, token=token, now=T0)
        with pytest.raises(IdentityError) as unknown:
            check_token(session, token="not-a-token", now=T0)
        assert str(used.value) == str(unknown.value)


class TestExpiry:
    def test_requester_who_never_clicks_is_rejected_when_the_challenge_expires(
        self, session: Session
    ) -> None:
        """An unanswered challenge ends the request with a reason (Art. 12(4))."""
        request = _request(session)
        _issue(session, request, ttl_hours=72)
        assert expire_challenges(session, now=T0 + timedelta(hours=71), tz=VIENNA) == []
        rejected = expire_challenges(session, now=T0 + timedelta(hours=72), tz=VIENNA)
        session.commit()
        assert rejected == [request.id]
        assert request.status == RequestStatus.REJECTED
        assert request.status_reason == REASON_EXPIRED
        assert request.verified_at is None
        assert request.clock_stops == [{"start": "2026-03-06", "end": "2026-03-09"}]
        assert expire_challenges(session, now=T0 + timedelta(days=10), tz=VIENNA) == []

    def test_verified_request_is_not_touched_by_expiry(self, session: Session) -> None:
        """A challenge that was answered never expires the request."""
        request = _request(session)
        _, token, _ = _issue(session, request)
        verify_token(session, token=token, now=T0, tz=VIENNA)
        assert expire_challenges(session, now=T0 + timedelta(days=30), tz=VIENNA) == []
        assert request.status == RequestStatus.VERIFYING

    def test_zone_can_be_looked_up_per_controller(self, session: Session) -> None:
        """The monitor covers several controllers: the zone may come from a lookup."""
        request = _request(session)
        _issue(session, request, ttl_hours=1)
        zones = {"lunexxa": "Pacific/Kiritimati"}  # UTC+14: 10:00 UTC is already the next day
        expire_challenges(session, now=T0 + timedelta(hours=1), tz=zones.__getitem__)
        assert request.clock_stops[0]["end"] == "2026-03-07"


class TestContactOnFile:
    def test_address_on_file_is_matched_case_insensitively(self) -> None:
        """The challenge goes to the processors' own spelling of the requester's address."""
        located = ["other@example.com", "Subject@Example.COM"]
        assert contact_on_file("subject@example.com", located) == "Subject@Example.COM"

    def test_no_processor_holds_the_address(self) -> None:
        """Nobody on file: no challenge, no data leaves ("no data held")."""
        assert contact_on_file("subject@example.com", ["someone@example.com"]) is None
        assert contact_on_file("subject@example.com", []) is None

    def test_request_to_deliver_elsewhere_is_ignored_and_flagged(self, session: Session) -> None:
        """An impostor's "send it to my new address" never becomes the delivery address."""
        request = _request(session, details={"deliver_to": "attacker@evil.example"})
        located = ["subject@example.com"]
        address = contact_on_file(request.email, located)
        assert address == "subject@example.com"
        assert flag_delivery_override(session, request=request) is True
        assert request.details["delivery_override_ignored"] is True
        assert flag_delivery_override(session, request=request) is False
        events = [e for e in events_for(session, request.id) if e.action.startswith("delivery")]
        assert [e.data for e in events] == [{"field": "deliver_to"}]

    def test_own_address_as_delivery_target_is_not_flagged(self, session: Session) -> None:
        """Asking to receive the answer at the address on file is no override."""
        request = _request(session, details={"deliver_to": "SUBJECT@example.com"})
        assert flag_delivery_override(session, request=request) is False


class TestAuthenticatedChannels:
    def test_shopify_compliance_webhook_skips_the_challenge(self, session: Session) -> None:
        """Shopify authenticated the customer; the reason is recorded with the verification."""
        request = _request(session, channel=Channel.SHOPIFY_WEBHOOK)
        assert is_authenticated_channel(request)
        accept_authenticated_channel(session, request=request)
        assert request.verified_at is not None
        assert request.verified_by == authenticated_channel_reason(request)
        assert "Shopify" in (request.verified_by or "")

    def test_staff_verification_skips_the_challenge(self, session: Session) -> None:
        """Staff who checked identity by other means record only the method."""
        request = _request(session, channel=Channel.STAFF, verified_by="customer login")
        assert is_authenticated_channel(request)

    def test_contact_form_needs_the_challenge(self, session: Session) -> None:
        """Anyone can fill in a form with someone else's address."""
        request = _request(session, channel=Channel.CONTACT_FORM)
        assert not is_authenticated_channel(request)
        with pytest.raises(IdentityError):
            accept_authenticated_channel(session, request=request)
