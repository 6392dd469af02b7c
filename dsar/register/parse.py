"""Reading a register from YAML: strict loading, validation, and errors that point at the field."""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from dsar.errors import RegisterError
from dsar.register.model import (
    _SECTION_ENTRY,
    Register,
)
from dsar.register.values import _Located


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing the duplicate mapping keys it would silently overwrite."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, Hashable):
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


#: The marker of a fact not yet filled in; a register carrying one is not ready to serve anyone.
PLACEHOLDER = "PLACEHOLDER"


def _placeholder_line(text: str) -> int | None:
    """The first line (1-based) that carries the placeholder marker, comments included."""
    for number, line in enumerate(text.splitlines(), start=1):
        if PLACEHOLDER in line.upper():
            return number
    return None


def parse_register(text: str, *, source: str = "<string>") -> Register:
    """Validate register YAML; any problem raises :class:`RegisterError` naming where it is.

    A ``PLACEHOLDER`` anywhere — a value, a comment — is refused: its text could reach a letter.
    Where the privacy policy says nothing, the register says so in plain words instead.
    """
    marked = _placeholder_line(text)
    if marked is not None:
        raise RegisterError(
            source,
            f"line {marked}",
            f"{PLACEHOLDER} is not a fact: state it, or say plainly that the policy is silent",
        )
    loader = _StrictLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RegisterError(source, location, exc.problem or "invalid YAML") from exc
    except yaml.YAMLError as exc:
        raise RegisterError(source, "", "invalid YAML") from exc
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise RegisterError(source, "", f"a register must be a YAML mapping, found {found}")
    try:
        return Register.model_validate(data)
    except ValidationError as exc:
        raise _translate(exc, data, source) from exc


def load_register(path: str | Path) -> Register:
    """Read and validate the register at ``path``; see :func:`parse_register`."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegisterError(source, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegisterError(source, "", f"cannot read the file ({type(exc).__name__})") from exc
    return parse_register(text, source=source)


def discover_registers(directory: Path) -> dict[str, Path]:
    """Map each controller key to its register file among ``directory``'s ``*.yaml``/``*.yml``.

    Every file is fully validated, so a broken register is reported here rather than mid-request.
    """
    if not directory.is_dir():
        raise RegisterError(str(directory), "", "not a directory")
    found: dict[str, Path] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        key = load_register(path).controller.key
        if key in found:
            reason = f"controller key {key!r} is also used by {found[key].name}"
            raise RegisterError(str(path), "controller.key", reason)
        found[key] = path
    return found


def _translate(exc: ValidationError, data: dict[str, Any], source: str) -> RegisterError:
    """Turn pydantic's first error into a dotted location and a reason an author can act on."""
    errors = exc.errors(include_url=False)
    error = errors[0]
    if error["type"] == "missing":  # a misspelt required field shows up missing *and* unknown
        parent = error["loc"][:-1]
        typos = (e for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == parent)
        error = next(typos, error)
    location = [str(part) for part in error["loc"]]
    reason = str(error["msg"])
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, _Located):
        location += cause.location.split(".")
        reason = cause.reason
    elif isinstance(cause, ValueError):
        reason = str(cause)
    elif error["type"] == "extra_forbidden":
        reason = "unknown field" + _suggestion(location)
    elif error["type"] == "missing":
        reason = "required field is missing"
    elif error["type"] == "string_type" and isinstance(error["input"], bool):
        reason += " (YAML reads unquoted yes/no/on/off as booleans: quote the value)"
    return RegisterError(source, ".".join(location), reason + _entry_hint(data, location))


def _suggestion(location: Sequence[str]) -> str:
    """ "; did you mean 'connector'?" for a misspelt field name, when one is close."""
    model: type[BaseModel] | None = Register
    for part in location[:-1]:
        if model is None or part.isdigit():
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    if model is None or not location:
        return ""
    close = difflib.get_close_matches(location[-1], list(model.model_fields), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_model_in, get_args(annotation)) if m is not None), None)


def _entry_hint(data: dict[str, Any], location: Sequence[str]) -> str:
    """ " (in recipient 'klaviyo')" when the location is inside a keyed list entry."""
    if len(location) < 2 or location[0] not in _SECTION_ENTRY or not location[1].isdigit():
        return ""
    entries = data.get(location[0])
    index = int(location[1])
    if (
        not isinstance(entries, list)
        or index >= len(entries)
        or not isinstance(entries[index], dict)
    ):
        return ""
    key = entries[index].get("key")
    return f" (in {_SECTION_ENTRY[location[0]]} {key!r})" if isinstance(key, str) else ""
