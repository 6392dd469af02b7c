"""The audit trail is append-only and hash-chained: tampering of any kind is detected."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import Session

from dsar.audit import GENESIS_HASH, append_event, verify_chain
from dsar.errors import AuditError


def _chain(session: Session, n: int = 5) -> None:
    for i in range(n):
        append_event(session, action=f"a{i}", actor="test", request_id="r1", data={"i": i})
    session.commit()


class TestChain:
    def test_fresh_chain_verifies_and_links_each_event_to_its_predecessor(
        self, session: Session
    ) -> None:
        """Events are numbered 1..n and each names the previous hash, starting from genesis."""
        events = [append_event(session, action="x", actor="t", data={"n": i}) for i in range(3)]
        session.commit()
        assert [e.seq for e in events] == [1, 2, 3]
        assert events[0].prev_hash == GENESIS_HASH
        assert events[1].prev_hash == events[0].hash
        result = verify_chain(session)
        assert (result.ok, result.events) == (True, 3)

    def test_empty_chain_is_intact(self, session: Session) -> None:
        """No events is a valid (empty) trail."""
        assert verify_chain(session).ok

    def test_edited_event_is_detected_at_its_sequence_number(self, session: Session) -> None:
        """Changing an event's data breaks its hash; verify names that event."""
        _chain(session)
        session.exec(text("UPDATE auditevent SET data = '{\"i\": 99}' WHERE seq = 3"))  # type: ignore[call-overload]
        session.commit()
        result = verify_chain(session)
        assert (result.ok, result.first_broken_seq) == (False, 3)

    def test_edited_actor_is_detected(self, session: Session) -> None:
        """Every field is covered by the hash, not only the data."""
        _chain(session)
        session.exec(text("UPDATE auditevent SET actor = 'someone-else' WHERE seq = 2"))  # type: ignore[call-overload]
        session.commit()
        assert verify_chain(session).first_broken_seq == 2

    def test_deleted_event_is_detected(self, session: Session) -> None:
        """A missing sequence number is reported as the first broken one."""
        _chain(session)
        session.exec(text("DELETE FROM auditevent WHERE seq = 2"))  # type: ignore[call-overload]
        session.commit()
        result = verify_chain(session)
        assert (result.ok, result.first_broken_seq) == (False, 2)

    def test_deleted_tail_is_detected(self, session: Session) -> None:
        """Cutting off the last events is caught by the chain head."""
        _chain(session)
        session.exec(text("DELETE FROM auditevent WHERE seq >= 4"))  # type: ignore[call-overload]
        session.commit()
        result = verify_chain(session)
        assert (result.ok, result.first_broken_seq) == (False, 4)

    def test_reordered_events_are_detected(self, session: Session) -> None:
        """Swapping two events' positions breaks the predecessor links."""
        _chain(session)
        session.exec(text("UPDATE auditevent SET seq = 100 WHERE seq = 2"))  # type: ignore[call-overload]
        session.exec(text("UPDATE auditevent SET seq = 2 WHERE seq = 3"))  # type: ignore[call-overload]
        session.exec(text("UPDATE auditevent SET seq = 3 WHERE seq = 100"))  # type: ignore[call-overload]
        session.commit()
        result = verify_chain(session)
        assert (result.ok, result.first_broken_seq) == (False, 2)

    def test_rehashed_forgery_is_still_detected_by_the_successor(self, session: Session) -> None:
        """Re-hashing an edited event does not help: its successor names the old hash."""
        from dsar.audit import event_hash
        from dsar.models import AuditEvent

        _chain(session)
        row = session.get(AuditEvent, 3)
        assert row is not None
        row.data = {"i": 42}
        row.hash = event_hash(
            prev_hash=row.prev_hash, seq=3, at=row.at, request_id=row.request_id,
            action=row.action, actor=row.actor, data=row.data,
        )  # fmt: skip
        session.add(row)
        session.commit()
        assert verify_chain(session).first_broken_seq == 4


class TestNoPersonalData:
    @pytest.mark.parametrize(
        "data",
        [
            {"email": "x"},
            {"note": "contact maria.muster@example.com"},
            {"nested": {"phone": "1"}},
            {"list": ["call +43 660 1234567"]},
        ],
    )
    def test_event_data_with_personal_data_is_refused(self, session: Session, data: dict) -> None:
        """Events reference requests by id; identities in their data are refused."""
        with pytest.raises(AuditError):
            append_event(session, action="x", actor="t", data=data)

    def test_ids_dates_and_counts_are_accepted(self, session: Session) -> None:
        """Ordinary facts (ids, ISO dates, counts) are not mistaken for personal data."""
        event = append_event(
            session,
            action="step_done",
            actor="flow",
            request_id="abc123",
            data={"due_date": "2026-04-07", "count": 3, "recipient": "klaviyo"},
        )
        assert event.seq == 1
