"""Keeping what the law keeps from an erasure: the records copied into the vault first.

An erasure's ``restrict`` step for a recipient holding categories under a retention duty (the
plan's retained categories, from the register's retention exceptions) reads those records from
the processor before it restricts (:func:`retained`), one per order with what an invoice must
show; :func:`store` puts them into the encrypted vault (:mod:`dsar.vault`) in the transaction
that records the step done. The erasure of the same recipient waits for that step
(:func:`erase_blocked`), so nothing is erased that the vault has not kept.

Nothing read here is logged or recorded in a step result: only the number of records kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session, select

from connectors.base import Connector, Subject
from dsar import vault
from dsar.enums import RequestKind, StepStatus
from dsar.errors import DsarError
from dsar.models import Request, Step
from dsar.register import Register, RetentionException
from dsar.store import session_scope

#: Register category → the connector's record category that holds it, one record per item.
RECORDS_OF = {"order_records": "orders"}

#: What an invoice must show (§ 11 UStG, § 132 BAO), in the order records' own field names.
INVOICE_FIELDS = (
    "name",
    "createdAt",
    "processedAt",
    "currencyCode",
    "lineItems",
    "subtotalPrice",
    "totalShippingPrice",
    "totalTax",
    "totalPrice",
    "paymentGatewayNames",
    "displayFinancialStatus",
    "billingAddress",
)


@dataclass(frozen=True)
class Kept:
    """One record to keep: the duty, the processor's id, the record's own day, the content."""

    category: str
    exception: RetentionException
    processor_id: str
    record_day: date
    content: dict[str, Any]

    def __repr__(self) -> str:  # the content is personal data: never in a log or traceback
        return f"Kept(category={self.category!r}, record_day={self.record_day.isoformat()})"


def _record_day(data: dict[str, Any]) -> date:
    for field in ("processedAt", "createdAt"):
        value = data.get(field)
        if isinstance(value, str) and len(value) >= 10:
            return date.fromisoformat(value[:10])
    raise DsarError("a retained record has no date: its retention period cannot be counted")


async def retained(
    step: Step, request: Request, register: Register, connector: Connector, subject: Subject
) -> list[Kept]:
    """The records an erasure's ``restrict`` step must keep in the vault before the erasure.

    Empty for any other step. A processor that cannot show all of them (a missing scope) fails
    the step rather than let the erasure destroy what was not kept.
    """
    if request.kind is not RequestKind.ERASURE or step.action != "restrict":
        return []
    wanted = {RECORDS_OF[c]: c for c in step.categories if c in RECORDS_OF}
    if not wanted:
        return []
    data = await connector.export(subject)
    if data.incomplete:
        raise DsarError(
            "the records the law keeps cannot all be read, so they cannot be kept in the vault "
            "before the erasure: " + "; ".join(data.incomplete)
        )
    kept: list[Kept] = []
    for record in data.records:
        category = wanted.get(record.category)
        exception = register.retention_for(category) if category is not None else None
        if category is None or exception is None:
            continue
        content = {f: record.data[f] for f in INVOICE_FIELDS if f in record.data}
        processor_id = str(record.data.get("id") or record.data.get("name") or "")
        if not processor_id:
            raise DsarError("a retained record has no id at the processor")
        kept.append(Kept(category, exception, processor_id, _record_day(record.data), content))
    return kept


def store(session: Session, step: Step, kept: list[Kept]) -> int:
    """Keep the records in the vault (inside the caller's transaction); returns how many are
    held for the step now, counting those an earlier attempt already stored."""
    key = vault.vault_key()
    for item in kept:
        vault.keep(
            session,
            request_id=step.request_id,
            recipient=step.recipient,
            category=item.category,
            exception=item.exception,
            processor_id=item.processor_id,
            record_day=item.record_day,
            content=item.content,
            key=key,
        )
    return len(kept)


def erase_blocked(session: Session, step: Step) -> bool:
    """Whether an erasure must wait: the same recipient's restriction of retained records (and
    with it the vault's copy) is not done."""
    if step.action != "erase":
        return False
    restriction = session.exec(
        select(Step).where(
            Step.request_id == step.request_id,
            Step.recipient == step.recipient,
            Step.action == "restrict",
        )
    ).first()
    return restriction is not None and restriction.status is not StepStatus.DONE


def kept_items(request_id: str, register: Register) -> list[dict[str, Any]]:
    """What the erasure answer says is kept, from the vault's records (never from the plan):
    per recipient, category, ground and end of retention, how many records."""
    with session_scope() as session:
        records = vault.records_of(session, request_id)
    groups: dict[tuple[str, str, str, date], int] = {}
    for r in records:
        key = (r.recipient, r.category, f"{r.ground} — {r.law}", r.retain_until)
        groups[key] = groups.get(key, 0) + 1
    return [
        {
            "recipient": register.recipient(recipient).name,
            "categories": [register.category(category).name],
            "ground": ground,
            "until": until,
            "count": count,
        }
        for (recipient, category, ground, until), count in sorted(groups.items())
    ]
