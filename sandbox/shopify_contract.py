"""Shopify's Admin GraphQL schemas, and checking a request against one as Shopify does.

The schema of each version is built from the description-free extract of Shopify's published
schema (``sandbox/contracts/shopify/``, made by ``tools/contracts/shopify.py``), once per
process. :func:`check` parses a request, validates it with graphql-core's rules against that
schema and coerces its variables; nothing runs unless all of that succeeds. Shopify's server is
built on graphql-ruby, whose errors read differently from graphql-core's, and clients (and the
connector) branch on their ``extensions.code``: the common errors are therefore reworded into
graphql-ruby's messages, codes and extensions (:mod:`sandbox.shopify_errors`).

Shopify's schema fails one check of graphql-core's schema validation (a deprecated
``ChannelDefinition.id`` implements the non-deprecated ``Node.id``); the schema is built as
already checked, which is what lets documents be validated against it at all.
"""

from __future__ import annotations

import functools
import gzip
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    build_schema,
    parse,
    print_ast,
    validate,
    visit,
)
from graphql.execution.values import get_variable_values
from graphql.language import OperationType

from sandbox.shopify_errors import Places, shopify_errors
from sandbox.shopify_versions import CONTRACTS

#: Longest document accepted, in characters (a guard for the emulator, not Shopify's figure).
MAX_QUERY_LENGTH = 100_000


@functools.cache
def load_schema(version: str) -> GraphQLSchema:
    """The Admin API schema of ``version`` (e.g. ``2026-10``), built once per process."""
    path = CONTRACTS / f"admin_{version}.graphql.gz"
    if not path.is_file():
        raise LookupError(f"no schema for Admin API version {version!r} in {CONTRACTS}")
    return build_schema(gzip.decompress(path.read_bytes()).decode(), assume_valid=True)


@dataclass(frozen=True)
class Checked:
    """A request that passed every check: its document, chosen operation and variables."""

    document: DocumentNode
    operation: OperationDefinitionNode
    variables: dict[str, Any]

    @property
    def is_mutation(self) -> bool:
        """Whether the operation is a mutation."""
        return self.operation.operation is OperationType.MUTATION


def check(
    schema: GraphQLSchema,
    query: str,
    *,
    operation_name: str | None = None,
    variables: dict[str, Any] | None = None,
) -> Checked | list[dict[str, Any]]:
    """The checked request, or the errors Shopify would answer it with (nothing runs then)."""
    if len(query) > MAX_QUERY_LENGTH:
        return [{"message": f"Query is too long (more than {MAX_QUERY_LENGTH} characters)"}]
    document = _validated(schema, query)
    if isinstance(document, list):
        return [dict(error) for error in document]
    operation = _operation(document, operation_name)
    if isinstance(operation, dict):
        return [operation]
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if isinstance(coerced, list):
        return variable_errors(coerced, operation, variables or {})
    return Checked(document, operation, coerced.coerced)


@functools.lru_cache(maxsize=512)
def _validated(schema: GraphQLSchema, query: str) -> DocumentNode | list[dict[str, Any]]:
    """The parsed document, valid against ``schema``, or Shopify's errors for it.

    Clients send the same few documents over and over with other variables; parsing and
    validating each once per schema keeps the emulator's answer times those of an API, not of
    a compiler. Documents are never changed after parsing, so sharing them is safe.
    """
    try:
        document = parse(query)
    except GraphQLSyntaxError as exc:
        return [_syntax_error(exc)]
    found = validate(schema, document)
    if found:
        places, info = Places(schema), TypeInfo(schema)
        visit(document, TypeInfoVisitor(info, places.visitor(info)))
        return shopify_errors(found, places, schema)
    return document


def _locations(error: GraphQLError) -> dict[str, Any]:
    if not error.locations:
        return {}
    return {"locations": [{"line": loc.line, "column": loc.column} for loc in error.locations]}


def _syntax_error(exc: GraphQLSyntaxError) -> dict[str, Any]:
    return {"message": exc.message.removeprefix("Syntax Error: "), **_locations(exc)}


def _operation(
    document: DocumentNode, name: str | None
) -> OperationDefinitionNode | dict[str, Any]:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        named = [op for op in operations if op.name and op.name.value == name]
        return named[0] if named else {"message": f'No operation named "{name}"'}
    if len(operations) == 1:
        return operations[0]
    if not operations:
        return {"message": "No operations in query document"}
    return {"message": "An operation name is required"}


def error_dict(error: GraphQLError) -> dict[str, Any]:
    """An execution error as Shopify's JSON: message, locations, path, extensions."""
    out: dict[str, Any] = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path is not None:
        out["path"] = list(error.path)
    if error.extensions:
        out["extensions"] = dict(error.extensions)
    return out


_VARIABLE = re.compile(r"^Variable '\$(\w+)' has invalid value(?: at (\S+))?: (.*)$", re.S)


def variable_errors(
    errors: Sequence[GraphQLError], operation: OperationDefinitionNode, given: dict[str, Any]
) -> list[dict[str, Any]]:
    """Shopify's ``INVALID_VARIABLE`` errors for variable values that do not fit their types."""
    declared = {
        d.variable.name.value: print_ast(d.type) for d in operation.variable_definitions or ()
    }
    grouped: dict[str, dict[str, Any]] = {}
    for error in errors:
        match = _VARIABLE.match(error.message)
        if match is None:
            grouped[error.message] = {"message": error.message, **_locations(error)}
            continue
        name, where, explanation = match.group(1), match.group(2), match.group(3)
        if re.match(r"Expected (a )?value of non-null type", explanation):
            explanation = "Expected value to not be null"
        path = [int(p) if p.isdigit() else p for p in re.findall(r"\w+", where or "")]
        entry = grouped.setdefault(
            name,
            {
                "message": f"Variable ${name} of type {declared.get(name, '?')} was provided "
                "invalid value",
                **_locations(error),
                "extensions": {
                    "code": "INVALID_VARIABLE",
                    "value": given.get(name),
                    "problems": [],
                },
            },
        )
        entry["extensions"]["problems"].append({"path": path, "explanation": explanation})
    for entry in grouped.values():
        problems = (entry.get("extensions") or {}).get("problems") or []
        if len(problems) == 1 and problems[0]["path"]:
            where = ".".join(str(p) for p in problems[0]["path"])
            entry["message"] += f" for {where} ({problems[0]['explanation']})"
    return list(grouped.values())
