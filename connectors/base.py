"""The connector contract: who a request is about, what a connector can do, what it returns.

A connector is one processor's API seen through the data-subject rights: it finds the person
(:class:`Located`), hands over their data for access and portability (Art. 15, 20 GDPR:
:class:`SubjectData`), corrects it (Art. 16: :class:`Changes`), erases it (Art. 17), restricts
or stops marketing (Art. 18, 21) and reports on asynchronous jobs. Every operation is
idempotent, because a flow may repeat a step after a crash: erasing what is already gone is a
complete :class:`Outcome` with ``count=0`` and a note, and restricting twice has no second side
effect where the processor lets the connector see the first one.

Results carry counts and the processor's ids, never credentials, and the types that hold a
person's data (:class:`Subject`, :class:`Record`) mask it in their reprs so a stray log line or
traceback cannot leak it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType, TracebackType
from typing import Any, Protocol, Self, TypedDict, runtime_checkable

from dsar.evidence import Trace


@dataclass(frozen=True)
class Subject:
    """Every identity known for the data subject, so each connector can use the one it keys on.

    ``customer_ids`` maps a processor name (``"shopify"``) to that processor's id for the person.
    Letter case of e-mail addresses is kept as given; connectors compare case-insensitively.
    """

    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    customer_ids: Mapping[str, str] = field(default_factory=dict, hash=False)
    name: str | None = None

    def __post_init__(self) -> None:
        emails = tuple(dict.fromkeys(e.strip() for e in self.emails if e and e.strip()))
        phones = tuple(dict.fromkeys(p.strip() for p in self.phones if p and p.strip()))
        object.__setattr__(self, "emails", emails)
        object.__setattr__(self, "phones", phones)
        object.__setattr__(self, "customer_ids", MappingProxyType(dict(self.customer_ids)))

    @property
    def primary_email(self) -> str | None:
        """The first e-mail address given, the one a processor is most likely keyed on."""
        return self.emails[0] if self.emails else None

    def __repr__(self) -> str:
        processors = sorted(self.customer_ids)
        name = "set" if self.name else "unset"
        return (
            f"Subject(emails=<{len(self.emails)}>, phones=<{len(self.phones)}>, "
            f"customer_ids={processors}, name=<{name}>)"
        )

    __str__ = __repr__


class Capability(StrEnum):
    """An operation a connector may offer; a register step needs the matching capability."""

    LOCATE = "locate"
    EXPORT = "export"  # Art. 15 access, Art. 20 portability
    RECTIFY = "rectify"  # Art. 16
    ERASE = "erase"  # Art. 17
    RESTRICT = "restrict"  # Art. 18, and Art. 21(3) objection to direct marketing
    LIFT_RESTRICTION = "lift_restriction"  # Art. 18(3)
    STATUS = "status"  # follow-up on asynchronous processor jobs


@dataclass(frozen=True)
class Located:
    """Whether the processor holds the person, and under which of its ids (``refs``)."""

    found: bool
    refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Record:
    """One item of the person's data: a category, the system it came from and its fields.

    The repr shows only the category, the source and the number of fields.
    """

    category: str
    source: str
    data: dict[str, Any]

    def __repr__(self) -> str:
        return (
            f"Record(category={self.category!r}, source={self.source!r}, fields={len(self.data)})"
        )


@dataclass(frozen=True)
class SubjectData:
    """Everything one processor holds on the person, as machine-readable records (Art. 15, 20).

    ``incomplete`` names, in words for the answer, what the processor holds but would not hand
    over to these credentials (e.g. orders older than 60 days without Shopify's
    ``read_all_orders`` scope): an access answer must not pass a partial export off as whole.
    """

    processor: str
    records: tuple[Record, ...] = ()
    incomplete: tuple[str, ...] = ()

    def by_category(self) -> dict[str, list[dict[str, Any]]]:
        """The records' data grouped by category, in first-seen order: the export's shape."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for record in self.records:
            grouped.setdefault(record.category, []).append(record.data)
        return grouped

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories present, in first-seen order."""
        return tuple(self.by_category())


@dataclass(frozen=True)
class Outcome:
    """What one operation did at one processor.

    ``complete`` is false while an asynchronous job at the processor is still running; its id
    is ``job_ref``, to be passed to :meth:`Connector.status`. ``count`` is how many of the
    processor's records (accounts, profiles, members) the operation changed, 0 when there was
    nothing left to do. ``refs`` are the processor's ids of those records and ``note`` says
    why in words. None of the fields may hold credentials or the person's contact data, which
    is why the default repr is safe to log.
    """

    processor: str
    action: Capability
    complete: bool
    count: int
    job_ref: str | None = None
    note: str = ""
    refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobStatus:
    """The state of an asynchronous processor job named by an :attr:`Outcome.job_ref`."""

    job_ref: str
    complete: bool
    note: str = ""


class Changes(TypedDict, total=False):
    """Canonical field names a rectification (Art. 16) may set, each to its corrected value.

    Connectors translate them to their processor's names (``phone`` is Klaviyo's
    ``phone_number`` and Mailchimp's ``PHONE``); a field a processor cannot hold raises
    :class:`~connectors.errors.Unsupported` instead of being silently dropped.
    """

    email: str
    first_name: str
    last_name: str
    phone: str
    company: str
    address1: str
    address2: str
    city: str
    zip: str
    province: str
    country: str


#: Every key :class:`Changes` may hold.
CHANGE_FIELDS: frozenset[str] = frozenset(Changes.__annotations__)
#: The keys that belong to a postal address.
ADDRESS_FIELDS: frozenset[str] = frozenset(
    {"company", "address1", "address2", "city", "zip", "province", "country"}
)


@runtime_checkable
class Tracing(Protocol):
    """A connector whose records show where a person's data went (a shop's orders: payment
    gateways, carriers, checkout addresses), the evidence :mod:`dsar.evidence` judges by."""

    async def traces(self, subject: Subject) -> tuple[Trace, ...]:
        """The person's traces, each naming where it was seen ("order #1003")."""
        ...


@runtime_checkable
class Connector(Protocol):
    """One processor's data-subject operations; each one is idempotent.

    A connector implements the operations in :attr:`capabilities` and raises
    :class:`~connectors.errors.Unsupported` for the others. Failures raise
    :class:`~connectors.errors.ConnectorError` subclasses; transient ones have already been
    retried by the HTTP layer when they arrive here.
    """

    name: str
    capabilities: frozenset[Capability]

    async def locate(self, subject: Subject) -> Located:
        """Find the person's records at the processor by any of their identities."""
        ...

    async def export(self, subject: Subject) -> SubjectData:
        """Everything the processor holds on the person (Art. 15, 20)."""
        ...

    async def rectify(self, subject: Subject, changes: Changes) -> Outcome:
        """Set the given fields to their corrected values (Art. 16)."""
        ...

    async def erase(self, subject: Subject) -> Outcome:
        """Erase the person at the processor, or start the processor's erasure job (Art. 17)."""
        ...

    async def restrict(self, subject: Subject) -> Outcome:
        """Stop marketing to the person and mark them restricted (Art. 18, 21)."""
        ...

    async def lift_restriction(self, subject: Subject) -> Outcome:
        """Remove the restriction mark; never re-subscribe without fresh consent (Art. 7)."""
        ...

    async def status(self, job_ref: str) -> JobStatus:
        """Whether the asynchronous job named by ``job_ref`` has finished."""
        ...

    async def aclose(self) -> None:
        """Release the connector's HTTP connections."""
        ...

    async def __aenter__(self) -> Self:
        """``async with connector:`` closes it on the way out."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Call :meth:`aclose`."""
        ...


class ClosingContext:
    """``async with connector:`` support for any class that has an ``aclose`` coroutine."""

    async def aclose(self) -> None:
        """Release resources; subclasses override."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
