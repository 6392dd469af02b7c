"""``dsar deadline``: the statutory due date of a request received at a given moment."""

from __future__ import annotations

from typing import Annotated

import typer

from dsar.cli.output import (
    JsonOpt,
    domain_errors,
    out,
    parse_aware_datetime,
    print_json,
)
from dsar.errors import InputError


def _kind(value: str | None) -> str | None:
    from dsar.enums import RequestKind

    if value is None:
        return None
    try:
        return RequestKind(value.strip().lower()).value
    except ValueError:
        valid = ", ".join(k.value for k in RequestKind)
        raise InputError(f"--kind: unknown kind {value!r}; expected one of: {valid}") from None


def deadline(
    regime: Annotated[str, typer.Option(help="gdpr | uk-gdpr | ccpa | vcdpa | cpa | lgpd")],
    country: Annotated[str, typer.Option(help="Controller's country (ISO 3166-1 alpha-2).")],
    received: Annotated[str, typer.Option(help="Receipt time with offset, ISO-8601.")],
    subdivision: Annotated[
        str | None, typer.Option(help="Controller's subdivision (e.g. 9 = Vienna, CA).")
    ] = None,
    tz: Annotated[
        str | None, typer.Option(help="IANA zone; default: the subdivision's or capital's.")
    ] = None,
    extended: Annotated[bool, typer.Option(help="Print the extended due date.")] = False,
    kind: Annotated[
        str | None, typer.Option(help="Request kind: US opt-out/limit-sensitive have their own.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compute a request's statutory due date (Reg. 1182/71 for GDPR/UK GDPR; CCPA 45+45 days)."""
    from dsar.deadlines import compute_deadlines, parse_regime

    with domain_errors():
        received_at = parse_aware_datetime(received, option="--received")
        result = compute_deadlines(
            regime=parse_regime(regime),
            received_at=received_at,
            country=country,
            subdivision=subdivision,
            tz=tz,
            kind=_kind(kind),
        )
        if as_json:
            print_json(result.to_dict())
            return
        if extended:
            if result.extended_due_date is None:
                raise InputError(f"the {result.regime.value} regime allows no extension")
            out.print(result.extended_due_date.isoformat())
        else:
            out.print(result.due_date.isoformat())
