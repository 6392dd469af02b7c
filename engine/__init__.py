"""The step engine: everything that carries out a request, as plain functions without Prefect.

Other packages import these names from here; modules inside import each other directly.
"""

from engine.answers import answer_facts, finalize, summary
from engine.context import close_connectors, load
from engine.gate import identity_gate
from engine.notices import notify_manual_step, transmit_portability
from engine.polling import poll_pending_step
from engine.progress import (
    complete_task,
    connector_groups,
    kind_of,
    manual_steps,
    mark_broken,
    open_manual_tasks,
    pending_steps,
    step_rows,
)
from engine.recipients import decide, decide_recipient, establish_recipients
from engine.retention import kept_items
from engine.steps import (
    carry_out_step,
    lift_restriction,
    record_failure,
    run_connector_step,
    start_and_plan,
)

__all__ = [
    "answer_facts",
    "carry_out_step",
    "close_connectors",
    "complete_task",
    "connector_groups",
    "decide",
    "decide_recipient",
    "establish_recipients",
    "finalize",
    "identity_gate",
    "kept_items",
    "kind_of",
    "lift_restriction",
    "load",
    "manual_steps",
    "mark_broken",
    "notify_manual_step",
    "open_manual_tasks",
    "pending_steps",
    "poll_pending_step",
    "record_failure",
    "run_connector_step",
    "start_and_plan",
    "step_rows",
    "summary",
    "transmit_portability",
]
