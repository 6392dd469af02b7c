"""Which recipients really received this person's data, and why we think so (Art. 15(1)(c), 19).

A notice under Art. 19 tells a third party who the person is. Sent to a recipient that never had
their data, it is a disclosure the engine causes rather than one it cures. So before any notice
or manual task, every recipient in the register is judged for this one person from evidence:

* ``always`` — the recipient holds every customer's data (the shop's hosting);
* ``found`` — the recipient's own connector finds the person (a newsletter list: membership);
* ``payment_gateways: [...]`` — one of the person's orders was paid through one of them
  (Shopify's ``paymentGatewayNames``);
* ``paid`` — one of the person's orders was paid at all (a register that names no provider);
* ``carrier`` — one of the person's orders was handed to a carrier (a fulfilment's tracking
  company); the notice and the task name the carriers;
* ``checkout_address`` — an address was entered for one of the person's orders;
* ``staff`` — nothing on record can tell (a cookie consent, a call): staff decide.

:func:`judge` turns the register's rules and the traces the connectors found into one
:class:`Finding` per recipient: ``received`` (with the reasons, e.g. "order #1003, paid with
paypal"), ``not_received``, or ``undetermined`` — which gets no automatic notice, only a
decision task for staff. A rule that needs the shop's orders is undetermined when the orders
could not be read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from dsar.enums import Verdict


class Judged(Protocol):
    """What the judgement reads of a register's recipient."""

    @property
    def key(self) -> str: ...
    @property
    def connector(self) -> str: ...
    @property
    def evidence(self) -> str | tuple[str, ...]: ...


#: The evidence rules a register may give a recipient (besides ``payment_gateways``).
RULES = ("always", "found", "paid", "carrier", "checkout_address", "staff")
#: Rules that read the person's orders.
ORDER_RULES = ("payment_gateways", "paid", "carrier", "checkout_address")


@dataclass(frozen=True)
class Trace:
    """One fact in a processor's records that shows data went somewhere.

    ``kind`` is ``payment_gateway``, ``carrier`` or ``checkout_address``; ``value`` the gateway
    or carrier as the processor names it; ``source`` where it was seen ("order #1003").
    """

    kind: str
    value: str
    source: str


@dataclass(frozen=True)
class Finding:
    """The verdict on one recipient for one person, with the reasons for it."""

    recipient: str
    verdict: Verdict
    reasons: tuple[str, ...]

    @property
    def received(self) -> bool:
        return self.verdict is Verdict.RECEIVED

    @property
    def carriers(self) -> tuple[str, ...]:
        """The carriers named in the reasons ("…, shipped by DHL Express")."""
        marker = ", shipped by "
        return tuple(sorted({r.split(marker, 1)[1] for r in self.reasons if marker in r}))


def _norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _gateway_matches(gateway: str, wanted: Iterable[str]) -> bool:
    held = _norm(gateway)
    return any(_norm(name) and _norm(name) in held for name in wanted)


def judge_one(recipient: Judged, *, found: bool | None, traces: Sequence[Trace] | None) -> Finding:
    """The verdict on ``recipient``: ``found`` is whether its connector finds the person
    (``None``: not asked or failed); ``traces`` the order traces (``None``: orders unreadable)."""
    rule = recipient.evidence
    key = recipient.key
    if rule == "always":
        return Finding(key, Verdict.RECEIVED, ("holds the data of every customer of the shop",))
    if rule == "staff":
        return Finding(key, Verdict.UNDETERMINED, ("nothing on record shows it; staff decide",))
    if rule == "found":
        if found is None:
            return Finding(key, Verdict.UNDETERMINED, ("it could not be searched",))
        if found:
            return Finding(key, Verdict.RECEIVED, ("its records hold the person",))
        return Finding(key, Verdict.NOT_RECEIVED, ("its records do not hold the person",))
    if traces is None:
        return Finding(key, Verdict.UNDETERMINED, ("the shop's orders could not be read",))
    if isinstance(rule, tuple):  # payment gateways
        wanted = " or ".join(rule)
        return _from_orders(
            key,
            [t for t in traces if t.kind == "payment_gateway" and _gateway_matches(t.value, rule)],
            "paid with {}",
            f"no order was paid with {wanted}",
        )
    kind, seen, none = _ORDER_RULES[str(rule)]
    return _from_orders(key, [t for t in traces if t.kind == kind], seen, none)


#: rule → (trace kind, how one reads in a reason, the reason when there is none)
_ORDER_RULES = {
    "paid": ("payment_gateway", "paid with {}", "no order was paid"),
    "carrier": ("carrier", "shipped by {}", "no order was handed to a carrier"),
    "checkout_address": (
        "checkout_address",
        "address entered at checkout",
        "no address was entered at a checkout",
    ),
}


def _from_orders(key: str, traces: Sequence[Trace], seen: str, none: str) -> Finding:
    """Received, with one reason per trace ("order #1001, paid with paypal"), or not."""
    if not traces:
        return Finding(key, Verdict.NOT_RECEIVED, (none,))
    return Finding(
        key, Verdict.RECEIVED, tuple(f"{t.source}, {seen.format(t.value)}" for t in traces)
    )


def judge(
    recipients: Iterable[Judged],
    *,
    found: Mapping[str, bool | None],
    traces: Sequence[Trace] | None,
) -> dict[str, Finding]:
    """One finding per recipient; ``found`` maps connector names to whether that connector
    finds the person."""
    return {r.key: judge_one(r, found=found.get(r.connector), traces=traces) for r in recipients}


def needs_orders(recipients: Iterable[Judged]) -> bool:
    """Whether any recipient's rule reads the person's orders."""
    return any(isinstance(r.evidence, tuple) or r.evidence in ORDER_RULES for r in recipients)


#: The reasons this module writes, as a German answer says them (the stored reasons stay in
#: English for staff and the audit trail; a letter says them in the person's language).
_GERMAN = {
    "holds the data of every customer of the shop": "verarbeitet die Daten aller Kunden des Shops",
    "its records hold the person": "ihre Datensätze enthalten die Person",
    "address entered at checkout": "Adresse an der Kasse eingegeben",
    "paid with": "bezahlt mit",
    "shipped by": "versandt durch",
    "decided by staff": "von unseren Mitarbeitern festgestellt",
}
_ORDER = re.compile(r"^order (?P<name>\S+)")


def in_language(reason: str, language: str) -> str:
    """A recorded reason ("order #1003, paid with PayPal") as an answer in ``language`` says
    it ("Bestellung #1003, bezahlt mit PayPal"); unknown wording stays as recorded."""
    if language != "de":
        return reason
    said = _ORDER.sub(lambda m: f"Bestellung {m.group('name')}", reason)
    for english, german in _GERMAN.items():
        said = said.replace(english, german)
    return said
