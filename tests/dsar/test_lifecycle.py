"""The request status machine: every legal move works, every illegal one raises."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from dsar import lifecycle
from dsar.audit import verify_chain
from dsar.enums import NoticeStatus
from dsar.enums import RequestStatus as S
from dsar.enums import StepStatus as T
from dsar.errors import InvalidTransition
from dsar.models import AuditEvent, Notice, Step
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


STEP_LEGAL = [(a, b) for a, targets in lifecycle.STEP_TRANSITIONS.items() for b in sorted(targets)]
STEP_ILLEGAL = [
    (a, b) for a, b in itertools.product(list(T), list(T)) if b not in lifecycle.STEP_TRANSITIONS[a]
]


class TestStepTransitions:
    @pytest.mark.parametrize(
        ("current", "target"), STEP_LEGAL, ids=[f"{a}->{b}" for a, b in STEP_LEGAL]
    )
    def test_a_legal_move_sets_the_status(self, current: T, target: T) -> None:
        step = Step(request_id="r", position=0, recipient="x", connector="c", action="erase")
        step.status = current
        assert lifecycle.move_step(step, target).status is target

    @pytest.mark.parametrize(
        ("current", "target"), STEP_ILLEGAL, ids=[f"{a}->{b}" for a, b in STEP_ILLEGAL]
    )
    def test_an_illegal_move_raises_and_leaves_the_step_as_it_was(
        self, current: T, target: T
    ) -> None:
        step = Step(request_id="r", position=0, recipient="x", connector="c", action="erase")
        step.status = current
        with pytest.raises(InvalidTransition, match="cannot move a step"):
            lifecycle.move_step(step, target)
        assert step.status is current

    def test_done_and_skipped_are_the_only_final_step_statuses(self) -> None:
        assert {T.DONE, T.SKIPPED} == lifecycle.STEP_FINAL

    def test_a_finished_step_is_never_run_again(self) -> None:
        """A re-run claims what failed or was interrupted, never what is done."""
        assert T.RUNNING not in lifecycle.STEP_TRANSITIONS[T.DONE]
        assert T.RUNNING in lifecycle.STEP_TRANSITIONS[T.FAILED]
        assert T.RUNNING in lifecycle.STEP_TRANSITIONS[T.RUNNING]


class TestClosedVocabularies:
    @pytest.mark.parametrize(
        "insert",
        [
            "INSERT INTO notice (id, request_id, recipient, purpose, channel, status) "
            "VALUES ('n1', :r, 'x', 'art19', 'email', 'delivered')",
            "INSERT INTO manualtask (id, request_id, recipient, instructions, due_date, status, "
            "created_at) VALUES ('t1', :r, 'x', 'do it', '2026-12-31', 'half-done', "
            "'2026-12-04 10:00:00')",
        ],
        ids=["notice", "manual task"],
    )
    def test_a_status_outside_its_vocabulary_is_refused_by_the_database(
        self, session: Session, insert: str
    ) -> None:
        request = make_request(session)
        statement = text(insert).bindparams(r=request.id)
        with pytest.raises(IntegrityError, match="CHECK constraint"):
            session.execute(statement)

    def test_statuses_come_back_as_enum_members(self, session: Session) -> None:
        request = make_request(session)
        session.add(Notice(request_id=request.id, recipient="x", purpose="art19", channel="email"))
        session.commit()
        stored = session.exec(select(Notice)).one()
        assert stored.status is NoticeStatus.PENDING
