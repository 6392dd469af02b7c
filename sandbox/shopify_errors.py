"""graphql-core's validation errors, reworded as Shopify's server (graphql-ruby) words them.

graphql-core finds the same faults in a document as graphql-ruby, but says
``Cannot query field 'foo' on type 'Customer'.`` where Shopify says
``Field 'foo' doesn't exist on type 'Customer'`` with ``extensions.code`` ``undefinedField``;
clients branch on those codes. :class:`Places` walks the document once to learn where each
field and argument value sits (its path, the argument and field it belongs to), and
:func:`shopify_errors` rewrites every error it recognises: unknown fields, unknown and missing
arguments, values of the wrong type (``argumentLiteralsIncompatible``), input objects with
unknown or missing fields, undeclared, unused or mistyped variables, selections on scalars or
missing on objects, unknown fragments, types and directives. Any other error keeps
graphql-core's message and location. :func:`variable_errors` does the same for variable values
that do not fit their declared types (``INVALID_VARIABLE``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from graphql import (
    ArgumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    Node,
    SelectionSetNode,
    TypeInfo,
    Visitor,
    is_input_object_type,
    print_ast,
)
from graphql.language.location import get_location

_Error = dict[str, Any]
_Rule = Callable[[re.Match[str], GraphQLError, "Places", GraphQLSchema], _Error | None]


class Places:
    """Where each field and argument value of one document sits, filled by :meth:`visitor`."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        #: id(FieldNode) → the field's path (operation, then field names and fragments).
        self.fields: dict[int, list[str]] = {}
        #: id(value node) → (owner kind, owner name, argument node, argument type, path).
        self.values: dict[int, tuple[str, str, ArgumentNode, str, list[str]]] = {}

    def visitor(self, info: TypeInfo) -> Visitor:
        """A visitor (to run inside a ``TypeInfoVisitor`` over ``info``) that fills the maps."""
        places = self
        path: list[str] = []
        owners: list[tuple[str, str]] = []
        argument: list[tuple[str, str, ArgumentNode, str, list[str]]] = []

        class Walk(Visitor):
            def enter_operation_definition(self, node: Any, *_: Any) -> None:
                label = node.operation.value
                path.append(f"{label} {node.name.value}" if node.name else label)

            def enter_fragment_definition(self, node: Any, *_: Any) -> None:
                path.append(f"fragment {node.name.value}")

            def enter_inline_fragment(self, node: Any, *_: Any) -> None:
                cond = node.type_condition
                path.append(f"... on {cond.name.value}" if cond else "...")

            def enter_field(self, node: Any, *_: Any) -> None:
                path.append(node.name.value)
                owners.append(("Field", node.name.value))
                places.fields[id(node)] = list(path)

            def enter_directive(self, node: Any, *_: Any) -> None:
                owners.append(("Directive", node.name.value))

            def enter_argument(self, node: Any, *_: Any) -> None:
                kind, name = owners[-1] if owners else ("Field", "")
                arg = info.get_argument()
                type_name = str(arg.type) if arg is not None else ""
                argument.append((kind, name, node, type_name, [*path, node.name.value]))

            def leave_argument(self, node: Any, *_: Any) -> None:
                argument.pop()

            def _value(self, node: Any, *_: Any) -> None:
                if argument:
                    places.values[id(node)] = argument[-1]

            def _pop_owner(self, node: Any, *_: Any) -> None:
                owners.pop()

            def _pop_path(self, node: Any, *_: Any) -> None:
                path.pop()

            def leave_field(self, node: Any, *_: Any) -> None:
                owners.pop()
                path.pop()

            enter_object_value = enter_list_value = enter_object_field = _value
            enter_int_value = enter_float_value = enter_string_value = _value
            enter_boolean_value = enter_null_value = enter_enum_value = _value
            enter_variable = _value
            leave_directive = _pop_owner
            leave_operation_definition = leave_fragment_definition = _pop_path
            leave_inline_fragment = _pop_path

        return Walk()


def _at(error: GraphQLError) -> dict[str, Any]:
    if not error.locations:
        return {}
    return {"locations": [{"line": loc.line, "column": loc.column} for loc in error.locations]}


def _located(node: Node) -> dict[str, Any]:
    if node.loc is None:
        return {}
    where = get_location(node.loc.source, node.loc.start)
    return {"locations": [{"line": where.line, "column": where.column}]}


def _node(error: GraphQLError, index: int = 0) -> Node | None:
    nodes = error.nodes or []
    return nodes[index] if len(nodes) > index else None


def _field_path(error: GraphQLError, places: Places) -> dict[str, Any]:
    node = _node(error)
    path = places.fields.get(id(node)) if isinstance(node, FieldNode) else None
    return {"path": path} if path else {}


def _undefined_field(m: re.Match[str], e: GraphQLError, p: Places, s: GraphQLSchema) -> _Error:
    field, type_name = m.group(1), m.group(2)
    return {
        "message": f"Field '{field}' doesn't exist on type '{type_name}'",
        **_at(e),
        **_field_path(e, p),
        "extensions": {"code": "undefinedField", "typeName": type_name, "fieldName": field},
    }


def _unknown_argument(m: re.Match[str], e: GraphQLError, p: Places, s: GraphQLSchema) -> _Error:
    kind = "Directive" if m.group(2) == "directive" else "Field"
    argument, owner = m.group(1), m.group(3).rsplit(".", 1)[-1].lstrip("@")
    return {
        "message": f"{kind} '{owner}' doesn't accept argument '{argument}'",
        **_at(e),
        "extensions": {
            "code": "argumentNotAccepted",
            "name": owner,
            "typeName": kind,
            "argumentName": argument,
        },
    }


def _missing_argument(m: re.Match[str], e: GraphQLError, p: Places, s: GraphQLSchema) -> _Error:
    owner, argument = m.group(1), m.group(2)
    kind = "Directive" if owner.startswith("@") else "Field"
    name = owner.lstrip("@").rsplit(".", 1)[-1]
    return {
        "message": f"{kind} '{name}' is missing required arguments: {argument}",
        **_at(e),
        **_field_path(e, p),
        "extensions": {
            "code": "missingRequiredArguments",
            "className": kind,
            "name": name,
            "arguments": argument,
        },
    }


def _missing_input(m: re.Match[str], e: GraphQLError, p: Places, s: GraphQLSchema) -> _Error:
    type_name, field = m.group(1), m.group(2)
    input_type = s.get_type(type_name)
    expected = str(input_type.fields[field].type) if is_input_object_type(input_type) else ""
    return {
        "message": f"Argument '{field}' on InputObject '{type_name}' is required. "
        f"Expected type {expected}",
        **_at(e),
        "extensions": {
            "code": "missingRequiredInputObjectAttribute",
            "argumentName": field,
            "argumentType": expected,
            "inputObjectType": type_name,
        },
    }


def _unknown_input(m: re.Match[str], e: GraphQLError, p: Places, s: GraphQLSchema) -> _Error:
    type_name, field = m.group(1), m.group(2)
    return {
        "message": f"InputObject '{type_name}' doesn't accept argument '{field}'",
        **_at(e),
        "extensions": {
            "code": "argumentNotAccepted",
            "name": type_name,
            "typeName": "InputObject",
            "argumentName": field,
        },
    }


def _operation_name(name: str | None, kind: str = "query") -> str:
    return name if name else f"anonymous {kind}"


def _undeclared(m: re.Match[str], e: GraphQLError, p: Places, s: GraphQLSchema) -> _Error:
    return {
        "message": f"Variable ${m.group(1)} is used by {_operation_name(m.group(2))} "
        "but not declared",
        **_at(e),
        "extensions": {"code": "variableNotDefined", "variableName": m.group(1)},
    }


def _unused(m: re.Match[str], e: GraphQLError, p: Places, s: GraphQLSchema) -> _Error:
    return {
        "message": f"Variable ${m.group(1)} is declared by {_operation_name(m.group(2))} "
        "but not used",
        **_at(e),
        "extensions": {"code": "variableNotUsed", "variableName": m.group(1)},
    }


def _mismatch(m: re.Match[str], e: GraphQLError, p: Places, s: GraphQLSchema) -> _Error:
    name, given, expected = m.group(1), m.group(2), m.group(3)
    place = p.values.get(id(_node(e, 1)))
    argument = place[2].name.value if place else "?"
    kind = "Nullability" if given.strip("!") == expected.strip("!") else "Type"
    return {
        "message": f"{kind} mismatch on variable ${name} and argument {argument} "
        f"({given} / {expected})",
        **_at(e),
        "extensions": {"code": "variableMismatch", "variableName": name, "typeName": given},
    }


def _no_selections(m: re.Match[str], e: GraphQLError, p: Places, s: GraphQLSchema) -> _Error:
    field, type_name = m.group(1), re.sub(r"[\[\]!]", "", m.group(2))
    return {
        "message": f"Field must have selections (field '{field}' returns {type_name} but has no "
        f"selections. Did you mean '{field} {{ ... }}'?)",
        **_at(e),
        **_field_path(e, p),
        "extensions": {"code": "selectionMismatch", "nodeName": f"field '{field}'"},
    }


def _scalar_selections(m: re.Match[str], e: GraphQLError, p: Places, s: GraphQLSchema) -> _Error:
    field, type_name = m.group(1), re.sub(r"[\[\]!]", "", m.group(2))
    node = _node(e)
    names = [
        sel.name.value
        for sel in (node.selections if isinstance(node, SelectionSetNode) else ())
        if isinstance(sel, FieldNode)
    ]
    return {
        "message": f"Selections can't be made on scalars (field '{field}' returns {type_name} "
        f"but has selections {json.dumps(names)})",
        **_at(e),
        "extensions": {"code": "selectionMismatch", "nodeName": f"field '{field}'"},
    }


def _simple(code: str, template: str) -> _Rule:
    def rule(m: re.Match[str], e: GraphQLError, p: Places, s: GraphQLSchema) -> _Error:
        return {"message": template.format(*m.groups()), **_at(e), "extensions": {"code": code}}

    return rule


_RULES: tuple[tuple[re.Pattern[str], _Rule], ...] = (
    (re.compile(r"^Cannot query field '(\w+)' on type '(\w+)'\."), _undefined_field),
    (
        re.compile(r"^Unknown argument '(\w+)' on (field|directive) '([\w.@]+)'\."),
        _unknown_argument,
    ),
    (
        re.compile(r"^Argument '([\w.@]+)\((\w+):\)' of type '.+' is required, but it was not"),
        _missing_argument,
    ),
    (
        re.compile(r"^Expected value of type '(\w+)' to include required field '(\w+)'"),
        _missing_input,
    ),
    (
        re.compile(r"^Expected value of type '(\w+)' not to include unknown field '(\w+)'"),
        _unknown_input,
    ),
    (re.compile(r"^Variable '\$(\w+)' is not defined(?: by operation '(\w+)')?\."), _undeclared),
    (re.compile(r"^Variable '\$(\w+)' is never used(?: in operation '(\w+)')?\."), _unused),
    (
        re.compile(r"^Variable '\$(\w+)' of type '(.+)' used in position expecting type '(.+)'\."),
        _mismatch,
    ),
    (re.compile(r"^Field '(\w+)' of type '(.+)' must have a selection"), _no_selections),
    (
        re.compile(r"^Field '(\w+)' must not have a selection since type '(.+)' has no"),
        _scalar_selections,
    ),
    (
        re.compile(r"^Unknown fragment '(\w+)'\."),
        _simple("useAndDefineFragment", "Fragment {0} was used, but not defined"),
    ),
    (
        re.compile(r"^Unknown type '(\w+)'\."),
        _simple("undefinedType", "No such type {0}, so it can't be a fragment condition"),
    ),
    (
        re.compile(r"^Unknown directive '@(\w+)'\."),
        _simple("undefinedDirective", "Directive @{0} is not defined"),
    ),
)


def _literal(error: GraphQLError, places: Places) -> tuple[int, _Error] | None:
    """A value of the wrong type: Shopify names the whole argument and its expected type."""
    place = places.values.get(id(_node(error)))
    if place is None:
        return None
    kind, owner, argument, type_name, path = place
    value = print_ast(argument.value)
    return id(argument), {
        "message": f"Argument '{argument.name.value}' on {kind} '{owner}' has an invalid value "
        f"({value}). Expected type '{type_name}'.",
        **_located(argument),
        "path": path,
        "extensions": {
            "code": "argumentLiteralsIncompatible",
            "typeName": kind,
            "argumentName": argument.name.value,
        },
    }


def shopify_errors(
    errors: Sequence[GraphQLError], places: Places, schema: GraphQLSchema
) -> list[_Error]:
    """Shopify's wording of graphql-core's validation errors, one per fault, in order.

    Missing arguments of one field are reported in one error, as Shopify does; a value of the
    wrong type anywhere inside an argument is reported once for that argument.
    """
    out: list[_Error] = []
    literal_seen: set[int] = set()
    for error in errors:
        translated = None
        for pattern, rule in _RULES:
            match = pattern.match(error.message)
            if match is not None:
                translated = rule(match, error, places, schema)
                break
        if translated is None and (literal := _literal(error, places)) is not None:
            key, translated = literal
            if key in literal_seen:
                continue
            literal_seen.add(key)
        if translated is None:
            translated = {"message": error.message, **_at(error)}
        _merge_missing(out, translated)
    return out


def _merge_missing(out: list[_Error], error: _Error) -> None:
    """Fold a field's second missing argument into the error about its first."""
    ext = error.get("extensions") or {}
    if ext.get("code") == "missingRequiredArguments":
        for earlier in out:
            prior = earlier.get("extensions") or {}
            if (
                prior.get("code") == "missingRequiredArguments"
                and prior.get("name") == ext["name"]
                and earlier.get("locations") == error.get("locations")
            ):
                prior["arguments"] = f"{prior['arguments']}, {ext['arguments']}"
                kind = prior["className"]
                earlier["message"] = (
                    f"{kind} '{prior['name']}' is missing required arguments: {prior['arguments']}"
                )
                return
    out.append(error)
