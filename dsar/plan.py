"""Planning: from the processing register and the request kind, the steps that answer a request.

One step per recipient that holds the subject's data — a connector operation where the
recipient has an API, otherwise an Art. 19 notice plus a manual task for staff. The plan is a
pure value; :func:`store_plan` records it as Step rows before anything runs, so a crashed run
resumes from the database and never plans (or performs) the same action twice.

Rules by kind:

* access (Art. 15) / portability (Art. 20): an export from every recipient with a connector;
  portability only from categories the subject provided (Art. 20(1), EDPB guidelines WP242).
  The other recipients are named in the answer (Art. 15(1)(c), CJEU C-154/21).
* rectification (Art. 16), erasure (17), restriction (18): the action at every connector, a
  notice and a manual task for every other recipient that received the person's data
  (Art. 19), judged from evidence (:mod:`dsar.evidence`); a decision task for staff where the
  evidence cannot tell, and nothing for a recipient that never had the data.
* erasure: categories under an Art. 17(3) retention exception are restricted instead, with the
  ground and the retention end recorded; they are restricted before the erasure runs.
* objection (Art. 21(3)) / consent withdrawal (Art. 7(3)): marketing stops at every marketing
  recipient at once; no one-month wait.
* US opt-out of sale/sharing and targeted advertising (Cal. Civ. Code § 1798.120): the same at
  every marketing recipient — the newsletter service, the store's marketing consent, and the
  advertising partners the data was shared with (11 CCR § 7026(f)(2)).
* US limit on sensitive personal information (§ 1798.121): restricted at every recipient of a
  sensitive (``special``) category, for those categories only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlmodel import Session, select

from dsar.enums import RequestKind, Verdict
from dsar.evidence import Finding
from dsar.models import ManualTask, Request, Step
from dsar.register import Recipient, Register

MANUAL = "manual"

#: Working days kept in hand between a manual task's due date and the request's.
MANUAL_TASK_MARGIN_DAYS = 5

ACTION_FOR_KIND: dict[RequestKind, str] = {
    RequestKind.ACCESS: "export",
    RequestKind.PORTABILITY: "export",
    RequestKind.RECTIFICATION: "rectify",
    RequestKind.ERASURE: "erase",
    RequestKind.RESTRICTION: "restrict",
    RequestKind.OBJECTION: "restrict",
    RequestKind.OPT_OUT: "restrict",
    RequestKind.LIMIT_SENSITIVE: "restrict",
}


@dataclass(frozen=True)
class PlannedStep:
    """One action on one recipient, before it is stored."""

    recipient: str
    connector: str
    action: str
    categories: tuple[str, ...] = ()
    retention_ground: str | None = None
    retention_until: date | None = None
    instructions: str = ""

    @property
    def manual(self) -> bool:
        return self.connector == MANUAL


@dataclass(frozen=True)
class Plan:
    """The steps of a request, in the order they must run."""

    kind: RequestKind
    steps: tuple[PlannedStep, ...] = field(default_factory=tuple)

    def for_recipient(self, key: str) -> list[PlannedStep]:
        return [s for s in self.steps if s.recipient == key]


def manual_instructions(
    kind: RequestKind, recipient: Recipient, finding: Finding | None = None
) -> str:
    """What staff do for a recipient without an API, naming the carriers a finding shows."""
    verb = {
        RequestKind.RECTIFICATION: "correct the subject's data as listed in the notice",
        RequestKind.ERASURE: "erase the subject's data, except what the law obliges you to keep",
        RequestKind.RESTRICTION: "restrict the processing of the subject's data to storage",
        RequestKind.OBJECTION: "stop using the subject's data for direct marketing",
        RequestKind.OPT_OUT: (
            "stop selling or sharing the consumer's personal information and stop using it for "
            "targeted advertising"
        ),
        RequestKind.LIMIT_SENSITIVE: (
            "use the consumer's sensitive personal information only as 11 CCR § 7027(m) allows"
        ),
    }.get(kind, "handle the request")
    base = (
        f"{recipient.name} has no API connected. The Art. 19 notice has been sent to its "
        f"privacy contact. Ask them to {verb}, then record their confirmation as evidence."
    )
    if finding is not None and finding.carriers:
        base += f" This person's orders went with {', '.join(finding.carriers)}."
    return f"{base} {recipient.instructions}".strip() if recipient.instructions else base


def decision_instructions(recipient: Recipient, finding: Finding | None) -> str:
    """The question a decision task puts to staff when the records cannot tell."""
    why = "; ".join(finding.reasons) if finding is not None else "no evidence was established"
    return (
        f"Did {recipient.name} receive this person's data? The records cannot tell ({why}). "
        "Find out, then decide: received (the Art. 19 notice then goes out) or not received "
        "(nothing is sent), with the evidence as the note."
    )


def _retention_end(register: Register, category: str, received_on: date) -> tuple[str, date] | None:
    exception = register.retention_for(category)
    if exception is None:
        return None
    # The latest retained record may date from the day of the request: counting from then (or
    # from that year's end, for tax law) gives the last day any of them must be kept.
    return f"{exception.ground} — {exception.law}", exception.retention_end(received_on)


def build_plan(
    *,
    register: Register,
    kind: RequestKind,
    received_on: date,
    findings: Mapping[str, Finding] | None = None,
) -> Plan:
    """The steps that carry out a request of ``kind`` against the controller's recipients.

    A recipient without an API gets a notice and a manual task only where ``findings`` show it
    received the person's data; where they cannot tell (or none were established), staff get a
    decision task and nothing is sent; where it did not, nothing happens at all.
    """
    steps: list[PlannedStep] = []
    action = ACTION_FOR_KIND[kind]
    provided = {c.key for c in register.categories if c.provided_by_subject}
    sensitive = {c.key for c in register.categories if c.special}
    for recipient in register.recipients:
        categories = tuple(recipient.categories)
        if kind in (RequestKind.OBJECTION, RequestKind.OPT_OUT) and not recipient.marketing:
            continue
        if kind is RequestKind.LIMIT_SENSITIVE:
            categories = tuple(c for c in categories if c in sensitive)
            if not categories:
                continue
        if kind in (RequestKind.ACCESS, RequestKind.PORTABILITY):
            if recipient.connector == MANUAL:
                continue  # named in the answer (Art. 15(1)(c)); no data flows through an API
            if kind is RequestKind.PORTABILITY:
                categories = tuple(c for c in categories if c in provided)
                if not categories:
                    continue
            steps.append(PlannedStep(recipient.key, recipient.connector, action, categories))
            continue
        if recipient.connector == MANUAL:
            finding = (findings or {}).get(recipient.key)
            verdict = finding.verdict if finding is not None else Verdict.UNDETERMINED
            if verdict is Verdict.NOT_RECEIVED:
                continue  # it never had the data: a notice would disclose it, not cure anything
            received = verdict is Verdict.RECEIVED
            instructions = (
                manual_instructions(kind, recipient, finding)
                if received
                else decision_instructions(recipient, finding)
            )
            task = "manual" if received else "decide"
            steps.append(
                PlannedStep(recipient.key, MANUAL, task, categories, instructions=instructions)
            )
            continue
        if kind is RequestKind.ERASURE:
            retained = {
                c: end
                for c in categories
                if (end := _retention_end(register, c, received_on)) is not None
            }
            if retained:
                ground = sorted({g for g, _ in retained.values()})[0]
                until = max(u for _, u in retained.values())
                steps.append(
                    PlannedStep(
                        recipient.key,
                        recipient.connector,
                        "restrict",
                        tuple(sorted(retained)),
                        retention_ground=ground,
                        retention_until=until,
                    )
                )
            erasable = tuple(c for c in categories if c not in retained)
            steps.append(PlannedStep(recipient.key, recipient.connector, "erase", erasable))
            continue
        steps.append(PlannedStep(recipient.key, recipient.connector, action, categories))
    return Plan(kind=kind, steps=tuple(steps))


def _task_due(request: Request) -> date:
    due = request.effective_due_date - timedelta(days=MANUAL_TASK_MARGIN_DAYS)
    return max(due, request.received_on)


def store_plan(session: Session, *, request: Request, plan: Plan) -> list[Step]:
    """Record the plan as Step rows (and ManualTask rows) unless it is already stored.

    Idempotent: re-planning a request returns the stored steps untouched, so a re-run never
    duplicates an action.
    """
    existing = list(session.exec(select(Step).where(Step.request_id == request.id)))
    if existing:
        return sorted(existing, key=lambda s: s.position)
    stored: list[Step] = []
    for position, planned in enumerate(plan.steps):
        step = Step(
            request_id=request.id,
            position=position,
            recipient=planned.recipient,
            connector=planned.connector,
            action=planned.action,
            categories=list(planned.categories),
            retention_ground=planned.retention_ground,
            retention_until=planned.retention_until,
        )
        session.add(step)
        stored.append(step)
        if planned.manual:
            session.add(
                ManualTask(
                    request_id=request.id,
                    recipient=planned.recipient,
                    instructions=planned.instructions,
                    due_date=_task_due(request),
                )
            )
    session.flush()
    return stored


def steps_of(session: Session, request_id: str) -> Sequence[Step]:
    """The stored steps of a request in plan order."""
    return sorted(
        session.exec(select(Step).where(Step.request_id == request_id)), key=lambda s: s.position
    )
