"""Holding requests to a vendor's OpenAPI contract: the part the Klaviyo and Mailchimp
emulators share.

A :class:`Contract` is built from a description-free extract (``sandbox/contracts/``) and knows,
per operation, the declared query parameters (name, required, schema) and the request body's
schema. :meth:`Contract.query_violations` and :meth:`Contract.body_violations` list what a
request does wrong — an undeclared or repeated parameter, a missing required one, a value of the
wrong type or outside its enum or bounds, a body that is not JSON or does not match its schema —
as :class:`Violation` values; each emulator answers them in its vendor's error shape.

Schemas are checked as JSON Schema 2020-12 with formats. An OpenAPI 3.0 document (Klaviyo's)
is first brought to that dialect: ``nullable: true`` becomes a ``"null"`` alternative, as
OpenAPI 3.1 writes it. The helpers :func:`strip_prose`, :func:`refs` and :func:`dig` are also
what the extract scripts under ``tools/contracts/`` build with.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

#: Keys that carry prose or tool-specific names, never structure.
PROSE = frozenset(
    {
        "description",
        "summary",
        "title",
        "example",
        "examples",
        "externalDocs",
        "tags",
        "x-title",
        "x-custom-config",
        "x-ballerina-name",
        "x-ballerina-name-ignore",
    }
)

_BASE = "urn:vendor-contract"


def strip_prose(node: Any, prose: frozenset[str] = PROSE) -> Any:
    """The node without descriptions, titles, examples or tool annotations.

    Inside ``properties`` the keys are field names, not keywords, so a field that happens to
    be called ``title`` or ``description`` is kept. ``deprecated: false`` says nothing and goes.
    """
    if isinstance(node, list):
        return [strip_prose(item, prose) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: strip_prose(schema, prose) for name, schema in value.items()}
        elif key not in prose and not (key == "deprecated" and value is False):
            out[key] = strip_prose(value, prose)
    return out


def dig(document: Any, pointer: str) -> Any:
    """The node a local reference (``#/components/schemas/X``) points to."""
    node: Any = document
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> set[str]:
    """Every ``$ref`` in the node, however deep."""
    if isinstance(node, list):
        return set().union(*(refs(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
    return found.union(*(refs(value) for value in node.values()))


def write_extract(document: dict[str, Any], path: Path) -> Path:
    """Write an extract byte for byte reproducibly (sorted keys, one-space indent) and check
    that it reads back as written; its path. For the scripts under ``tools/contracts/``."""
    text = json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    if json.loads(path.read_text(encoding="utf-8")) != document:
        raise SystemExit(f"{path}: the file does not read back as written")
    return path


def extract_main(
    argv: list[str] | None,
    *,
    description: str,
    extract: Callable[[Path, Path], Path],
    source: Path,
    target: Path,
) -> int:
    """The command line of an extract script: ``--source`` and ``--target`` folders; prints
    what was written."""
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=source)
    parser.add_argument("--target", type=Path, default=target)
    args = parser.parse_args(argv)
    args.target.mkdir(parents=True, exist_ok=True)
    path = extract(args.source, args.target)
    sys.stdout.write(f"{path}: {path.stat().st_size} bytes\n")
    return 0


def pointer(*parts: str) -> str:
    """A JSON pointer of ``parts`` (``~`` and ``/`` escaped)."""
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def as_json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 document's schemas in JSON Schema 2020-12: ``nullable`` as ``"null"``."""
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: as_json_schema(schema) for name, schema in value.items()}
        elif key != "nullable":
            out[key] = as_json_schema(value)
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if "$ref" in out or "allOf" in out or "oneOf" in out or "anyOf" in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@dataclass(frozen=True)
class Violation:
    """One thing a request does wrong: the parameter or body field at fault, and why.

    ``path`` is the field's place in the body (``("data", "attributes")``), empty for a
    parameter or the body as a whole.
    """

    field: str
    message: str
    path: tuple[str, ...] = ()
    parameter: bool = False


class BodyNotJSON(ValueError):
    """The body is not JSON at all."""


@dataclass(frozen=True)
class Parameter:
    """One declared query parameter: its name, whether it is required, its schema."""

    name: str
    required: bool
    schema: dict[str, Any]
    validator: Draft202012Validator


@dataclass(frozen=True)
class Operation:
    """One operation of a contract, ready to check requests against."""

    method: str
    path: str
    query: Mapping[str, Parameter]
    body: Draft202012Validator | None
    body_required: bool
    media_types: tuple[str, ...] = ()


class Contract:
    """The operations of an extract, by method and path template."""

    def __init__(self, document: dict[str, Any]) -> None:
        if str(document.get("openapi", "")).startswith("3.0"):
            document = as_json_schema(document)
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(_BASE, resource)
        self.operations: dict[tuple[str, str], Operation] = {}
        for path, methods in document["paths"].items():
            for method, operation in methods.items():
                if isinstance(operation, dict) and method != "parameters":
                    built = self._operation(method, path, operation)
                    self.operations[(method.upper(), path)] = built

    def validator(self, *parts: str, formats: bool = True) -> Draft202012Validator:
        """A validator of the schema at ``parts`` (a path into the document)."""
        schema = {"$ref": f"{_BASE}#/{pointer(*parts)}"}
        checker = Draft202012Validator.FORMAT_CHECKER if formats else None
        return Draft202012Validator(schema, registry=self._registry, format_checker=checker)

    def _operation(self, method: str, path: str, operation: dict[str, Any]) -> Operation:
        query: dict[str, Parameter] = {}
        for index, parameter in enumerate(operation.get("parameters", [])):
            parts: tuple[str, ...] = ("paths", path, method, "parameters", str(index))
            if "$ref" in parameter:
                parts = tuple(parameter["$ref"].removeprefix("#/").split("/"))
                parameter = dig(self.document, parameter["$ref"])
            if parameter["in"] != "query":
                continue
            validator = self.validator(*parts, "schema")
            query[parameter["name"]] = Parameter(
                parameter["name"], bool(parameter.get("required")), parameter["schema"], validator
            )
        body = operation.get("requestBody") or {}
        content = body.get("content", {})
        media = next((m for m in content if "json" in m), None)
        body_validator = (
            self.validator("paths", path, method, "requestBody", "content", media, "schema")
            if media is not None
            else None
        )
        return Operation(
            method.upper(),
            path,
            query,
            body_validator,
            bool(body.get("required")),
            tuple(content),
        )

    def operation(self, method: str, path: str) -> Operation:
        """The operation at ``method`` and ``path`` (a template: ``/api/profiles/{id}``)."""
        found = self.operations.get((method.upper(), path))
        if found is None:
            raise LookupError(f"{method.upper()} {path} is not in the contract")
        return found

    def answer_validator(self, method: str, path: str, status: str) -> Draft202012Validator:
        """A validator of the JSON answer ``method`` ``path`` gives with ``status`` (``"200"``,
        ``"default"``), to hold an emulator's own answers to the contract. Formats are not
        asserted: vendors themselves answer ``""`` for a timestamp that was never set."""
        responses = self.document["paths"][path][method.lower()]["responses"]
        response = responses[status]
        parts: tuple[str, ...] = ("paths", path, method.lower(), "responses", status)
        if "$ref" in response:
            parts = tuple(response["$ref"].removeprefix("#/").split("/"))
            response = dig(self.document, response["$ref"])
        content = response["content"]
        media = next((m for m in content if m == "application/json"), next(iter(content)))
        return self.validator(*parts, "content", media, "schema", formats=False)

    @staticmethod
    def query_violations(operation: Operation, query: Iterable[tuple[str, str]]) -> list[Violation]:
        """Every parameter declared and given once, required ones present, each value valid."""
        found: list[Violation] = []
        given: dict[str, str] = {}
        for name, value in query:
            if name not in operation.query:
                found.append(Violation(name, "is not a parameter of this operation", (), True))
            elif name in given:
                found.append(Violation(name, "is given more than once", (), True))
            else:
                given[name] = value
        for name, parameter in operation.query.items():
            if name not in given:
                if parameter.required:
                    found.append(Violation(name, "is required", (), True))
                continue
            try:
                value = coerce(given[name], parameter.schema)
            except ValueError as exc:
                found.append(Violation(name, str(exc), (), True))
                continue
            errors = sorted(parameter.validator.iter_errors(value), key=lambda e: list(e.path))
            found += [Violation(name, message(e), (), True) for e in errors]
        return found

    @staticmethod
    def body_violations(operation: Operation, raw: bytes) -> tuple[Any, list[Violation]]:
        """The body as JSON (``None`` when absent or not taken) and what is wrong with it.

        Raises :class:`BodyNotJSON` when a body the operation takes is not JSON at all.
        """
        if operation.body is None:
            return None, []
        if not raw.strip():
            if operation.body_required:
                return None, [Violation("", "is required")]
            return None, []
        try:
            body = json.loads(raw)
        except ValueError:
            raise BodyNotJSON("the body is not valid JSON") from None
        errors = sorted(operation.body.iter_errors(body), key=lambda e: list(e.path))
        return body, [Violation(field_of(e), message(e), place_of(e)) for e in errors]


def coerce(text: str, schema: dict[str, Any]) -> Any:
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


def place_of(error: ValidationError) -> tuple[str, ...]:
    """Where in the body the error is: the object holding a missing field, else the value."""
    return tuple(str(p) for p in error.absolute_path)


def field_of(error: ValidationError) -> str:
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


def message(error: ValidationError) -> str:
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
