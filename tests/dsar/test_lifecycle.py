"""The request status machine: every legal move works, every illegal one raises."""

from __future__ import annotations

import itertools

import pytest
from sqlmodel import Session, select

from dsar import lifecycle
from dsar.audit import verify_chain
from dsar.enums import RequestStatus as S
from dsar.errors import InvalidTransition
from dsar.models import AuditEvent
from tests.factories import make_request

LEGAL = [(a, b) for a, targets in lifecycle.TRANSITIONS.items() for b in sorted(targets)]
ILLEGAL = [
    (a, b) for a, b in itertools.product(list(S), list(S)) if b not in lifecycle.TRANSITIONS[a]
]


class TestTransitions:
    @pytest.mark.parametrize(("current", "target"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
    def test_legal_transition_changes_status_and_appends_audit_event(
        self, session: Session, current: S, target: S
    ) -> None:
        """Each allowed move sets the status and records exactly one audit event with from/to."""
        request = make_request(session, status=current)
        lifecycle.transition(session, request=request, target=target, actor="test", reason="why")
        session.commit()
        assert request.status is target
        events = session.exec(select(AuditEvent).where(AuditEvent.request_id == request.id)).all()
        assert [(e.data["from"], e.data["to"]) for e in events] == [(current.value, target.value)]
        assert verify_chain(session).ok

    @pytest.mark.parametrize(("current", "target"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
    def test_illegal_transition_raises_and_changes_nothing(
        self, session: Session, current: S, target: S
    ) -> None:
        """A forbidden move raises InvalidTransition and leaves status and trail untouched."""
        request = make_request(session, status=current)
        with pytest.raises(InvalidTransition):
            lifecycle.transition(session, request=request, target=target, actor="t", reason="x")
        assert request.status is current
        assert session.exec(select(AuditEvent)).all() == []

    def test_final_statuses_are_exactly_completed_rejected_withdrawn(self) -> None:
        """Only completed, rejected and withdrawn end a request."""
        assert {S.COMPLETED, S.REJECTED, S.WITHDRAWN} == lifecycle.FINAL

    @pytest.mark.parametrize("target", [S.REJECTED, S.FAILED])
    def test_rejection_and_failure_need_a_reason(self, session: Session, target: S) -> None:
        """Art. 12(4): a refusal must be explained, so rejected/failed without reason raise."""
        request = make_request(session, status=S.IN_PROGRESS if target is S.FAILED else S.VERIFYING)
        with pytest.raises(InvalidTransition, match="reason is required"):
            lifecycle.transition(session, request=request, target=target, actor="t", reason=" ")

    def test_reaching_a_final_status_stamps_closed_at(self, session: Session) -> None:
        """Closing a request records when, which the evidence-retention purge relies on."""
        request = make_request(session, status=S.IN_PROGRESS)
        assert request.closed_at is None
        lifecycle.transition(session, request=request, target=S.COMPLETED, actor="t")
        assert request.closed_at is not None
