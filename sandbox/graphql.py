"""A small GraphQL reader: documents in, operations with resolved arguments out.

Enough of the GraphQL grammar for what clients send Shopify's Admin API: named and anonymous
operations, variable definitions with defaults, aliases, arguments with every literal kind
(strings, block strings, numbers, booleans, null, enums, lists, input objects), directives
(read and ignored), fragments and inline fragments. Execution against a schema lives with the
emulator that uses it (:mod:`sandbox.shopify_graphql`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


class GraphQLError(ValueError):
    """A document that cannot be read or run; ``line``/``column`` locate it when known."""

    def __init__(self, message: str, *, line: int = 0, column: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.code = code

    def to_json(self) -> dict[str, Any]:
        """The error as a GraphQL response's ``errors`` item."""
        item: dict[str, Any] = {"message": self.message}
        if self.line:
            item["locations"] = [{"line": self.line, "column": self.column}]
        if self.code:
            item["extensions"] = {"code": self.code}
        return item


@dataclass(frozen=True)
class Variable:
    """A ``$name`` reference inside an argument."""

    name: str


@dataclass(frozen=True)
class EnumValue:
    """A bare enum literal such as ``UNSUBSCRIBED``."""

    name: str


@dataclass(frozen=True)
class Field:
    """One selected field with its arguments (still holding variables) and sub-selection."""

    name: str
    alias: str | None
    arguments: dict[str, Any]
    selections: tuple[Selection, ...]
    line: int
    column: int

    @property
    def key(self) -> str:
        """The name this field has in the response."""
        return self.alias or self.name


@dataclass(frozen=True)
class FragmentSpread:
    """``...Name``."""

    name: str
    line: int
    column: int


@dataclass(frozen=True)
class InlineFragment:
    """``... on Type { ... }``; ``type_condition`` is ``None`` without ``on``."""

    type_condition: str | None
    selections: tuple[Selection, ...]


Selection = Field | FragmentSpread | InlineFragment


@dataclass(frozen=True)
class VariableDefinition:
    """``$name: Type = default``; ``type`` is the type as written (``ID!``)."""

    name: str
    type: str
    default: Any = None


@dataclass(frozen=True)
class Operation:
    """A query or mutation with its variables and top-level selection."""

    kind: str
    name: str | None
    variables: tuple[VariableDefinition, ...]
    selections: tuple[Selection, ...]


@dataclass(frozen=True)
class Fragment:
    """``fragment Name on Type { ... }``."""

    type_condition: str
    selections: tuple[Selection, ...]


@dataclass(frozen=True)
class Document:
    """Every operation and fragment of one request's ``query`` text."""

    operations: tuple[Operation, ...]
    fragments: dict[str, Fragment] = field(default_factory=dict)

    def operation(self, name: str | None) -> Operation:
        """The operation to run: the one named, or the only one."""
        if name:
            for op in self.operations:
                if op.name == name:
                    return op
            raise GraphQLError(f'No operation named "{name}"')
        if len(self.operations) != 1:
            raise GraphQLError("An operation name is required")
        return self.operations[0]


_TOKEN = re.compile(
    r"""
    (?P<skip>(?:[\s,\ufeff]+|\#[^\n\r]*)+)
    |(?P<block>\"\"\"(?:\\\"\"\"|[^"]|"(?!""))*\"\"\")
    |(?P<string>"(?:\\.|[^"\\\n\r])*")
    |(?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
    |(?P<name>[_A-Za-z][_0-9A-Za-z]*)
    |(?P<spread>\.\.\.)
    |(?P<punct>[!$&()\:=@\[\]{|}])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    line: int
    column: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos, line, line_start = 0, 1, 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise GraphQLError(
                f'Parse error on "{source[pos]}"', line=line, column=pos - line_start + 1
            )
        kind = match.lastgroup or ""
        text = match.group()
        if kind != "skip":
            tokens.append(_Token(kind, text, line, pos - line_start + 1))
        newlines = text.count("\n")
        if newlines:
            line += newlines
            line_start = pos + text.rindex("\n") + 1
        pos = match.end()
    tokens.append(_Token("eof", "", line, pos - line_start + 1))
    return tokens


def _block_string(raw: str) -> str:
    lines = raw[3:-3].replace('\\"""', '"""').splitlines()
    indents = [len(ln) - len(ln.lstrip()) for ln in lines[1:] if ln.strip()]
    cut = min(indents, default=0)
    body = [lines[0], *(ln[cut:] for ln in lines[1:])] if lines else []
    return "\n".join(body).strip("\n")


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.pos = 0

    @property
    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def _error(self, expected: str) -> GraphQLError:
        tok = self.peek
        seen = "end of file" if tok.kind == "eof" else f'"{tok.text}"'
        return GraphQLError(
            f"Parse error on {seen}, expected {expected}", line=tok.line, column=tok.column
        )

    def _take(self, text: str) -> _Token:
        tok = self.peek
        if tok.text != text or tok.kind in ("string", "block"):
            raise self._error(f'"{text}"')
        self.pos += 1
        return tok

    def _accept(self, text: str) -> bool:
        if self.peek.text == text and self.peek.kind in ("punct", "spread", "name"):
            self.pos += 1
            return True
        return False

    def _name(self) -> _Token:
        tok = self.peek
        if tok.kind != "name":
            raise self._error("a name")
        self.pos += 1
        return tok

    def document(self) -> Document:
        operations: list[Operation] = []
        fragments: dict[str, Fragment] = {}
        while self.peek.kind != "eof":
            if self.peek.text == "{":
                operations.append(Operation("query", None, (), self._selection_set()))
            elif self.peek.text == "fragment":
                self.pos += 1
                name = self._name().text
                self._take("on")
                condition = self._name().text
                self._directives()
                fragments[name] = Fragment(condition, self._selection_set())
            elif self.peek.text in ("query", "mutation", "subscription"):
                operations.append(self._operation())
            else:
                raise self._error("an operation or fragment")
        if not operations:
            raise GraphQLError("The document contains no operation")
        return Document(tuple(operations), fragments)

    def _operation(self) -> Operation:
        kind = self._name().text
        name = self._name().text if self.peek.kind == "name" else None
        variables: list[VariableDefinition] = []
        if self._accept("("):
            while not self._accept(")"):
                self._take("$")
                var = self._name().text
                self._take(":")
                var_type = self._type()
                default = self._value(const=True) if self._accept("=") else None
                self._directives()
                variables.append(VariableDefinition(var, var_type, default))
        self._directives()
        return Operation(kind, name, tuple(variables), self._selection_set())

    def _type(self) -> str:
        if self._accept("["):
            inner = self._type()
            self._take("]")
            text = f"[{inner}]"
        else:
            text = self._name().text
        return text + "!" if self._accept("!") else text

    def _directives(self) -> None:
        while self._accept("@"):
            self._name()
            if self.peek.text == "(":
                self._arguments()

    def _selection_set(self) -> tuple[Selection, ...]:
        self._take("{")
        if self.peek.text == "}":
            raise self._error("a field")
        selections: list[Selection] = []
        while not self._accept("}"):
            selections.append(self._selection())
        return tuple(selections)

    def _selection(self) -> Selection:
        if self.peek.kind == "spread":
            tok = self.peek
            self.pos += 1
            if self.peek.kind == "name" and self.peek.text != "on":
                name = self._name().text
                self._directives()
                return FragmentSpread(name, tok.line, tok.column)
            condition = None
            if self._accept("on"):
                condition = self._name().text
            self._directives()
            return InlineFragment(condition, self._selection_set())
        head = self._name()
        alias = None
        if self._accept(":"):
            alias, head = head.text, self._name()
        arguments = self._arguments() if self.peek.text == "(" else {}
        self._directives()
        selections = self._selection_set() if self.peek.text == "{" else ()
        return Field(head.text, alias, arguments, selections, head.line, head.column)

    def _arguments(self) -> dict[str, Any]:
        self._take("(")
        arguments: dict[str, Any] = {}
        while not self._accept(")"):
            name = self._name().text
            self._take(":")
            arguments[name] = self._value(const=False)
        return arguments

    def _value(self, *, const: bool) -> Any:
        tok = self.peek
        if tok.text == "$" and tok.kind == "punct":
            if const:
                raise self._error("a constant value")
            self.pos += 1
            return Variable(self._name().text)
        if tok.kind == "string":
            self.pos += 1
            return json.loads(tok.text)
        if tok.kind == "block":
            self.pos += 1
            return _block_string(tok.text)
        if tok.kind == "number":
            self.pos += 1
            return float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text)
        if tok.kind == "name":
            self.pos += 1
            literals: dict[str, Any] = {"true": True, "false": False, "null": None}
            return literals[tok.text] if tok.text in literals else EnumValue(tok.text)
        if self._accept("["):
            items = []
            while not self._accept("]"):
                items.append(self._value(const=const))
            return items
        if self._accept("{"):
            fields: dict[str, Any] = {}
            while not self._accept("}"):
                key = self._name().text
                self._take(":")
                fields[key] = self._value(const=const)
            return fields
        raise self._error("a value")


def parse(source: str) -> Document:
    """Read a GraphQL document, or raise :class:`GraphQLError` with the position."""
    return _Parser(source).document()


def resolve(value: Any, variables: dict[str, Any]) -> Any:
    """An argument with its variables substituted and enum literals turned into strings.

    A variable missing from ``variables`` reads as ``None``; defaults are merged in by the
    caller (:func:`bind_variables`).
    """
    if isinstance(value, Variable):
        return variables.get(value.name)
    if isinstance(value, EnumValue):
        return value.name
    if isinstance(value, list):
        return [resolve(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, variables) for k, v in value.items()}
    return value


def bind_variables(operation: Operation, given: dict[str, Any] | None) -> dict[str, Any]:
    """The operation's variables: given values, else defaults; required ones must be there."""
    given = given or {}
    bound: dict[str, Any] = {}
    for definition in operation.variables:
        value = given.get(definition.name, definition.default)
        if value is None and definition.type.endswith("!"):
            raise GraphQLError(
                f"Variable ${definition.name} of type {definition.type} was provided invalid value",
                code="INVALID_VARIABLE",
            )
        bound[definition.name] = value
    return bound


def used_variables(selections: tuple[Selection, ...], fragments: dict[str, Fragment]) -> set[str]:
    """Names of the variables the selections refer to (through fragments too)."""
    names: set[str] = set()
    seen: set[str] = set()

    def scan_value(value: Any) -> None:
        if isinstance(value, Variable):
            names.add(value.name)
        elif isinstance(value, list):
            for item in value:
                scan_value(item)
        elif isinstance(value, dict):
            for item in value.values():
                scan_value(item)

    def scan(items: tuple[Selection, ...]) -> None:
        for item in items:
            if isinstance(item, Field):
                scan_value(item.arguments)
                scan(item.selections)
            elif isinstance(item, InlineFragment):
                scan(item.selections)
            elif item.name in fragments and item.name not in seen:
                seen.add(item.name)
                scan(fragments[item.name].selections)

    scan(selections)
    return names
