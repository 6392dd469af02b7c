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

The schemas are JSON Schema 2020-12 (OpenAPI 3.1); formats such as ``date-time`` are checked.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from sandbox.mailchimp_state import MailchimpProblem

CONTRACT = Path(__file__).parent / "contracts" / "mailchimp" / "marketing.openapi.json"
_BASE = "urn:mailchimp-marketing"
_BODY_DETAIL = (
    "The resource submitted could not be validated. For field-specific details, "
    "see the 'errors' array."
)


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True)
class Parameter:
    """One declared query parameter: its name, whether it is required, its schema."""

    name: str
    required: bool
    schema: dict[str, Any]
    validator: Draft202012Validator


@dataclass(frozen=True)
class Operation:
    """One operation of the contract, ready to check requests against."""

    method: str
    path: str
    query: Mapping[str, Parameter]
    body: Draft202012Validator | None
    body_required: bool


class MailchimpContract:
    """The operations of the extract, by method and path template."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(_BASE, resource)
        self.operations: dict[tuple[str, str], Operation] = {}
        for path, methods in document["paths"].items():
            for method, operation in methods.items():
                self.operations[(method.upper(), path)] = self._operation(method, path, operation)

    def _validator(self, *pointer: str) -> Draft202012Validator:
        schema = {"$ref": f"{_BASE}#/{_pointer(*pointer)}"}
        return Draft202012Validator(
            schema, registry=self._registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )

    def _operation(self, method: str, path: str, operation: dict[str, Any]) -> Operation:
        query: dict[str, Parameter] = {}
        for index, parameter in enumerate(operation.get("parameters", [])):
            if parameter["in"] != "query":
                continue
            validator = self._validator("paths", path, method, "parameters", str(index), "schema")
            query[parameter["name"]] = Parameter(
                parameter["name"], bool(parameter.get("required")), parameter["schema"], validator
            )
        body = operation.get("requestBody")
        media = (body or {}).get("content", {}).get("application/json")
        body_validator = (
            self._validator(
                "paths", path, method, "requestBody", "content", "application/json", "schema"
            )
            if media is not None
            else None
        )
        return Operation(
            method.upper(), path, query, body_validator, bool(body and body.get("required"))
        )

    def answer_validator(self, method: str, path: str, status: str) -> Draft202012Validator:
        """A validator of the JSON answer ``method`` ``path`` gives with ``status`` (``"200"``,
        ``"default"``), to hold the emulator's own answers to the contract. Formats are not
        asserted: Mailchimp itself answers ``""`` for a timestamp that was never set."""
        operation = self.document["paths"][path][method.lower()]
        content = operation["responses"][status]["content"]
        media = "application/json" if "application/json" in content else next(iter(content))
        pointer = ("paths", path, method.lower(), "responses", status, "content", media, "schema")
        return Draft202012Validator(
            {"$ref": f"{_BASE}#/{_pointer(*pointer)}"}, registry=self._registry
        )

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

    def operation(self, method: str, path: str) -> Operation:
        """The operation at ``method`` and ``path`` (a template: ``/3.0/lists/{list_id}``)."""
        found = self.operations.get((method.upper(), path))
        if found is None:
            raise LookupError(f"{method.upper()} {path} is not in Mailchimp's contract")
        return found

    def check(
        self, operation: Operation, query: Iterable[tuple[str, str]], body: bytes
    ) -> dict[str, Any] | None:
        """The request's JSON body (``None`` where the operation takes none), once the query
        and the body satisfy the operation; a :class:`MailchimpProblem` otherwise."""
        check_query(operation, query)
        return check_body(operation, body)


def check_query(operation: Operation, query: Iterable[tuple[str, str]]) -> None:
    """Every parameter declared, required ones present, each value valid; else 400."""
    errors: list[dict[str, str]] = []
    given: dict[str, str] = {}
    for name, value in query:
        if name not in operation.query:
            errors.append({"field": name, "message": "is not a parameter of this operation"})
        elif name in given:
            errors.append({"field": name, "message": "is given more than once"})
        else:
            given[name] = value
    for name, parameter in operation.query.items():
        if name not in given:
            if parameter.required:
                errors.append({"field": name, "message": "is required"})
            continue
        try:
            value = _coerce(given[name], parameter.schema)
        except ValueError as exc:
            errors.append({"field": name, "message": str(exc)})
            continue
        errors += [{"field": name, "message": _message(e)} for e in _errors(parameter, value)]
    if errors:
        fields = ", ".join(sorted({e["field"] for e in errors}))
        raise MailchimpProblem(
            400, "Bad Request", f"The request's parameters are invalid: {fields}.", errors
        )


def _errors(parameter: Parameter, value: Any) -> list[ValidationError]:
    return sorted(parameter.validator.iter_errors(value), key=lambda e: list(e.path))


def check_body(operation: Operation, raw: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, valid for the operation; ``None`` for operations without
    one (their bodies are ignored, as Mailchimp does: its own clients send ``null``)."""
    if operation.body is None:
        return None
    if not raw.strip():
        if operation.body_required:
            raise MailchimpProblem(
                400, "Invalid Resource", _BODY_DETAIL, [{"field": "", "message": "is required"}]
            )
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        raise MailchimpProblem(
            400, "JSON Parse Error", "We encountered an unspecified JSON parsing error."
        ) from None
    errors = sorted(operation.body.iter_errors(body), key=lambda e: list(e.path))
    if errors:
        raise MailchimpProblem(
            400,
            "Invalid Resource",
            _BODY_DETAIL,
            [{"field": _field(e), "message": _message(e)} for e in errors],
        )
    if not isinstance(body, dict):  # every body of this API is an object; the schema says so
        raise MailchimpProblem(400, "Invalid Resource", _BODY_DETAIL)
    return body


def _coerce(text: str, schema: dict[str, Any]) -> Any:
    """A query string value as the type its schema declares (arrays: comma-separated)."""
    kind = schema.get("type")
    if kind == "array":
        return [item.strip() for item in text.split(",") if item.strip()]
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError("must be an integer") from None
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            raise ValueError("must be a number") from None
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise ValueError("must be true or false")
        return text.lower() == "true"
    return text


def _field(error: ValidationError) -> str:
    """The dotted path of the field at fault; a missing required field is named itself."""
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.validator_value, list):
        missing = [
            name
            for name in error.validator_value
            if isinstance(error.instance, dict) and name not in error.instance
        ]
        path += missing[:1]
    return ".".join(path)


def _message(error: ValidationError) -> str:
    """A short message that never repeats the whole submitted value."""
    if error.validator == "enum" and isinstance(error.validator_value, list):
        return "Value must be one of: " + ", ".join(map(str, error.validator_value))
    if error.validator == "required":
        return "This value is required"
    if error.validator == "oneOf":
        return "must match exactly one of the documented forms"
    if error.validator == "anyOf":
        return "must match one of the documented forms"
    if error.validator == "type":
        return f"must be of type {error.validator_value}"
    return error.message if len(error.message) <= 200 else error.message[:199] + "…"


@functools.cache
def load_contract(path: Path = CONTRACT) -> MailchimpContract:
    """The contract, read and compiled once per process."""
    return MailchimpContract(json.loads(path.read_text(encoding="utf-8")))
