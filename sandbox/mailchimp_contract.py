"""Checking a request against Mailchimp's published contract, before the emulator acts on it.

The contract is the description-free extract of Mailchimp's Marketing API spec
(``sandbox/contracts/mailchimp/marketing.openapi.json``, made by ``tools/contracts/mailchimp.py``),
loaded once per process. Each route the emulator serves is one of its operations, and
:meth:`MailchimpContract.check` holds a request to it the way Mailchimp's gateway does: every
query parameter must be declared (an unknown one is refused, not silently ignored, so a client
that misspells ``exclude_fields`` finds out here and not in production), required ones present
(``search-members`` without ``query``), values of their declared type and within their enums
and bounds; a body must be JSON and match the operation's schema (required fields, ``status``
enums, the ``oneOf`` of ``PUT``). A violation is a :class:`MailchimpProblem`, which the
emulator answers as Mailchimp does, with ``application/problem+json``. Which authentication
schemes the API accepts also comes from here (:attr:`MailchimpContract.auth_schemes`).

The schemas are JSON Schema 2020-12 (OpenAPI 3.1); formats such as ``date-time`` are checked
by the shared :mod:`sandbox.openapi`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sandbox.mailchimp_state import MailchimpProblem
from sandbox.openapi import BodyNotJSON, Contract, Operation, Violation

CONTRACT = Path(__file__).parent / "contracts" / "mailchimp" / "marketing.openapi.json"
_BODY_DETAIL = (
    "The resource submitted could not be validated. For field-specific details, "
    "see the 'errors' array."
)


class MailchimpContract(Contract):
    """The operations of the extract, answering violations as Mailchimp's problem documents."""

    @property
    def auth_schemes(self) -> frozenset[str]:
        """The HTTP authentication schemes the API accepts (``basic``, ``bearer``)."""
        schemes = self.document["components"]["securitySchemes"]
        named = {name for requirement in self.document["security"] for name in requirement}
        return frozenset(
            str(schemes[name]["scheme"]).lower()
            for name in named
            if schemes[name].get("type") == "http"
        )

    def check(
        self, operation: Operation, query: Iterable[tuple[str, str]], body: bytes
    ) -> dict[str, Any] | None:
        """The request's JSON body (``None`` where the operation takes none), once the query
        and the body satisfy the operation; a :class:`MailchimpProblem` otherwise."""
        check_query(operation, query)
        return check_body(operation, body)


def _errors(violations: list[Violation]) -> list[dict[str, str]]:
    return [{"field": v.field, "message": v.message} for v in violations]


def check_query(operation: Operation, query: Iterable[tuple[str, str]]) -> None:
    """Every parameter declared, required ones present, each value valid; else 400."""
    violations = Contract.query_violations(operation, query)
    if violations:
        fields = ", ".join(sorted({v.field for v in violations}))
        raise MailchimpProblem(
            400,
            "Bad Request",
            f"The request's parameters are invalid: {fields}.",
            _errors(violations),
        )


def check_body(operation: Operation, raw: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, valid for the operation; ``None`` for operations without
    one (their bodies are ignored, as Mailchimp does: its own clients send ``null``)."""
    try:
        body, violations = Contract.body_violations(operation, raw)
    except BodyNotJSON:
        raise MailchimpProblem(
            400, "JSON Parse Error", "We encountered an unspecified JSON parsing error."
        ) from None
    if violations:
        raise MailchimpProblem(400, "Invalid Resource", _BODY_DETAIL, _errors(violations))
    if body is None:
        return None
    if not isinstance(body, dict):  # every body of this API is an object; the schema says so
        raise MailchimpProblem(400, "Invalid Resource", _BODY_DETAIL)
    return body


@functools.cache
def load_contract(path: Path = CONTRACT) -> MailchimpContract:
    """The contract, read and compiled once per process."""
    return MailchimpContract(json.loads(path.read_text(encoding="utf-8")))
