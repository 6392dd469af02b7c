"""Checking a request against Klaviyo's published contract, before the emulator acts on it.

The contract is the description-free extract of Klaviyo's OpenAPI spec for the newest revision
on file (``sandbox/contracts/klaviyo/stable-2026-07-15.openapi.json``, made by
``tools/contracts/klaviyo.py``), loaded once per process; a request naming a newer revision
that Klaviyo serves is held to it. Each route the emulator serves is one of its operations, and
:meth:`KlaviyoContract.problem` holds a request to it: every query parameter declared (so
``page[size]`` where the operation has none, or a misspelt ``fields[profile]``, is refused),
values of their declared type, enum and bounds (``page[size]`` at most 1000 on events, 100 on
profiles), and the JSON:API body matching the operation's schema (a deletion job's profile
without ``attributes`` is refused). The answer is Klaviyo's JSON:API error: 400 ``invalid``
naming the ``parameter`` or the body's ``pointer``.

The contract also says which scopes each operation needs (``x-klaviyo-scopes``; an API key
without one is answered 403 ``permission_denied``) and which filter fields and operators it
accepts (``x-klaviyo-filters``), from which the emulator takes its filter tables.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from starlette.responses import Response

from sandbox.klaviyo_documents import error, invalid
from sandbox.openapi import BodyNotJSON, Contract, Operation, Violation

CONTRACT = Path(__file__).parent / "contracts" / "klaviyo" / "stable-2026-07-15.openapi.json"


class KlaviyoContract(Contract):
    """The operations of the extract, answering violations as Klaviyo's JSON:API errors."""

    @property
    def revision(self) -> str:
        """The revision of the spec the extract was made from."""
        return str(self.document["info"]["version"])

    def scopes(self, operation: Operation) -> frozenset[str]:
        """The API-key scopes the operation needs."""
        found = self.document["paths"][operation.path][operation.method.lower()]
        return frozenset(found.get("x-klaviyo-scopes", ()))

    @functools.cached_property
    def every_scope(self) -> frozenset[str]:
        """Every scope some operation of the extract needs: what a full-access key holds."""
        return frozenset().union(*(self.scopes(op) for op in self.operations.values()))

    def filters(
        self, method: str, path: str, emulated: Iterable[str]
    ) -> Mapping[str, tuple[str, ...]]:
        """The filter fields of ``emulated`` the operation accepts, each with its operators."""
        declared = self.document["paths"][path][method.lower()].get("x-klaviyo-filters", {})
        tables: dict[str, tuple[str, ...]] = {}
        for field in emulated:
            if field in declared:
                operators = declared[field]["operators"].values()
                tables[field] = tuple(sorted({op for ops in operators for op in ops}))
        return tables

    def page_bounds(self, method: str, path: str) -> tuple[int, int]:
        """The operation's default and largest ``page[size]``."""
        schema = self.operation(method, path).query["page[size]"].schema
        return int(schema["default"]), int(schema["maximum"])

    def problem(
        self,
        operation: Operation,
        query: Iterable[tuple[str, str]],
        body: bytes,
        scopes: frozenset[str],
    ) -> Response | None:
        """Klaviyo's answer to a request the contract refuses, or ``None`` if it passes."""
        missing = self.scopes(operation) - scopes
        if missing:
            return error(
                403,
                "permission_denied",
                "You do not have permission to perform this action.",
                f"This API key is missing required scopes: {', '.join(sorted(missing))}.",
            )
        violations = self.query_violations(operation, query)
        if violations:
            return _answer(violations[0])
        try:
            _, violations = self.body_violations(operation, body)
        except BodyNotJSON:
            return invalid("The request body is not valid JSON.", pointer="/data/")
        if violations:
            return _answer(violations[0])
        return None


def _answer(violation: Violation) -> Response:
    """400 ``invalid`` for one violation, naming the parameter or the body's pointer."""
    if violation.parameter:
        return invalid(f"'{violation.field}' {violation.message}.", parameter=violation.field)
    if not violation.field:
        if violation.message == "is required":
            return invalid("A request body is required.", pointer="/data/")
        return invalid(f"The request body {violation.message}.", pointer="/data/")
    name = violation.field.rsplit(".", 1)[-1]
    if violation.message == "This value is required":
        detail = f"'{name}' is a required property"
    else:
        detail = f"'{name}': {violation.message}."
    return invalid(detail, pointer="/" + violation.field.replace(".", "/"))


@functools.cache
def load_contract(path: Path = CONTRACT) -> KlaviyoContract:
    """The contract, read and compiled once per process."""
    return KlaviyoContract(json.loads(path.read_text(encoding="utf-8")))
