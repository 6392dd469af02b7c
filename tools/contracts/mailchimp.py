"""Derive the Mailchimp emulator's contract from Mailchimp's published Marketing API spec.

Two sources stand behind it. The authority is an excerpt of Mailchimp's current spec (the one
its API reference is built from): the member operations, ``delete-permanent``,
``search-members`` and the problem document every error answers with. Where the excerpt has no
say (``ping``, the audiences, the member listing, a few schemas it left unresolved), a complete
conversion of Mailchimp's client-generation spec 3.0.85 fills in; that conversion renamed path
parameters to camelCase (``{listId}``), which are mapped back to Mailchimp's own ``list_id`` and
``subscriber_hash``, dropped the ``/3.0`` prefix from its paths, and offers its errors as two
media types, where the vendor answers ``application/problem+json`` only. Where the two differ
the vendor wins: an operation taken from the conversion answers errors with the vendor's
problem document, its member body takes the vendor's definition of every field the vendor's
member body has, and every member's ``merge_fields`` is the vendor's (values of any JSON type;
the conversion makes each value an object). Mailchimp's own clients authenticate with HTTP
Basic, which the conversion names and the excerpt does not; the extract accepts both that and
the excerpt's Bearer token.

The extract keeps what a request validator and a response check need (paths, methods,
parameters, body schemas, enums, required fields, response schemas) and none of the prose:
descriptions, summaries, titles and examples are dropped. It is written, byte for byte
reproducible, to ``sandbox/contracts/mailchimp/marketing.openapi.json`` and then checked:
every reference resolves, no prose is left, and each operation taken from the vendor excerpt
is the excerpt's own, minus its prose.

Run from the repository's root::

    .venv/bin/python tools/contracts/mailchimp.py [--source DIR] [--target DIR]
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

from sandbox.openapi import PROSE, dig, extract_main, refs, strip_prose, write_extract

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT.parent / "shared" / "vendor-contracts" / "mailchimp"
TARGET = ROOT / "sandbox" / "contracts" / "mailchimp"
VENDOR = "marketing.vendor-excerpt.fern-2026.openapi.json"
CONVERSION = "marketing-3.0.85.ballerina-sanitized.openapi.json"
OUTPUT = "marketing.openapi.json"
PREFIX = "/3.0"

#: The operations the connector, the emulator and the tests use, by path and method.
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("/3.0/ping", "get"),
    ("/3.0/lists", "get"),
    ("/3.0/lists/{list_id}", "get"),
    ("/3.0/lists/{list_id}/members", "get"),
    ("/3.0/lists/{list_id}/members", "post"),
    ("/3.0/lists/{list_id}/members/{subscriber_hash}", "get"),
    ("/3.0/lists/{list_id}/members/{subscriber_hash}", "put"),
    ("/3.0/lists/{list_id}/members/{subscriber_hash}", "patch"),
    ("/3.0/lists/{list_id}/members/{subscriber_hash}", "delete"),
    ("/3.0/lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent", "post"),
    ("/3.0/search-members", "get"),
)
#: The member resource, whose vendor definitions (body fields, error answer) are the model.
MEMBER = "/3.0/lists/{list_id}/members/{subscriber_hash}"
SUCCESS_MEDIA = "application/json"


def snake(name: str) -> str:
    """``listId`` → ``list_id``: Mailchimp's own spelling of a renamed path parameter."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def from_conversion(path: str) -> str:
    """The conversion's path for one of Mailchimp's: no ``/3.0``, camelCase parameters."""
    bare = path.removeprefix(PREFIX) or "/"
    return re.sub(r"{(\w+)}", lambda m: "{" + _camel(m.group(1)) + "}", bare)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def converted_operation(
    conversion: dict[str, Any], vendor: dict[str, Any], path: str, method: str
) -> dict[str, Any]:
    """One operation from the conversion, in Mailchimp's own names and error media type.

    A member body it defines takes the vendor's definition of every field the vendor's own
    member body has (the vendor wins where the two differ: merge field values, timestamps).
    """
    operation: dict[str, Any] = copy.deepcopy(conversion["paths"][from_conversion(path)][method])
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            parameter["name"] = snake(parameter["name"])
    responses: dict[str, Any] = {}
    for status, response in operation["responses"].items():
        if status == "default":
            responses[status] = copy.deepcopy(
                vendor["paths"][MEMBER]["get"]["responses"]["default"]
            )
            continue
        content = response.get("content") or {}
        kept = {k: v for k, v in content.items() if k == SUCCESS_MEDIA}
        responses[status] = {**response, "content": kept}
    operation["responses"] = responses
    body = operation.get("requestBody", {}).get("content", {}).get(SUCCESS_MEDIA)
    if body is not None:
        schema = copy.deepcopy(_deref(conversion, body["schema"]))
        vendor_fields = _media(vendor["paths"][MEMBER]["put"]["requestBody"])["schema"]
        for name in schema.get("properties", {}):
            if name in vendor_fields["properties"]:
                schema["properties"][name] = copy.deepcopy(vendor_fields["properties"][name])
        body["schema"] = schema
    return operation


def _media(holder: dict[str, Any]) -> dict[str, Any]:
    return holder["content"][SUCCESS_MEDIA]  # type: ignore[no-any-return]


def build(vendor: dict[str, Any], conversion: dict[str, Any]) -> dict[str, Any]:
    """The extract: the vendor's operations where it has them, the conversion's elsewhere."""
    vendor_names = set(vendor["components"]["schemas"])
    clashes = vendor_names & set(conversion["components"]["schemas"])
    if clashes:
        raise SystemExit(f"schema names in both sources: {sorted(clashes)}")
    paths: dict[str, dict[str, Any]] = {}
    for path, method in OPERATIONS:
        if method in vendor["paths"].get(path, {}):
            operation = {**copy.deepcopy(vendor["paths"][path][method]), "x-origin": "vendor"}
        else:
            operation = converted_operation(conversion, vendor, path, method)
            operation["x-origin"] = "conversion"
        paths.setdefault(path, {})[method] = operation
    # Copy every schema referred to, transitively, from the source that names it; the vendor
    # excerpt's unresolved placeholders are filled from the conversion.
    schemas: dict[str, Any] = {}
    pending = sorted(refs(paths))
    while pending:
        name = pending.pop().rsplit("/", 1)[-1]
        if name in schemas:
            continue
        if name in vendor_names:
            schema = copy.deepcopy(vendor["components"]["schemas"][name])
            if "x-excerpt-unresolved" in schema:
                schema = {**_placeholder(name, conversion), "x-origin": "conversion"}
        else:
            schema = copy.deepcopy(conversion["components"]["schemas"][name])
        schemas[name] = schema
        pending.extend(sorted(refs(schema)))
    _vendor_merge_fields({"paths": paths, "schemas": schemas}, vendor)
    schemes = {
        "basicAuth": conversion["components"]["securitySchemes"]["basicAuth"],
        "bearerToken": vendor["components"]["securitySchemes"]["bearerToken"],
    }
    extract = {
        "openapi": "3.1.0",
        "info": {"title": "Mailchimp Marketing API (extract)", "version": "3.0"},
        "servers": vendor["servers"],
        "security": [{"basicAuth": []}, {"bearerToken": []}],
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items())), "securitySchemes": schemes},
    }
    return strip_prose(extract)  # type: ignore[no-any-return]


def _vendor_merge_fields(node: Any, vendor: dict[str, Any]) -> None:
    """Every member's ``merge_fields`` as the vendor defines them (values of any JSON type),
    where the conversion has each value an object, which no real merge field ever is."""
    body = _media(vendor["paths"][MEMBER]["put"]["requestBody"])["schema"]
    if isinstance(node, list):
        for item in node:
            _vendor_merge_fields(item, vendor)
    elif isinstance(node, dict):
        fields = node.get("properties")
        if isinstance(fields, dict) and "merge_fields" in fields:
            fields["merge_fields"] = copy.deepcopy(body["properties"]["merge_fields"])
        for value in node.values():
            _vendor_merge_fields(value, vendor)


#: Where each schema the vendor excerpt left unresolved sits in the conversion: an operation
#: and the steps from its body (or, for a GET, its 200 answer) down to the schema.
PLACEHOLDERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "ListsMembersMembers": ("/lists/{listId}/members/{subscriberHash}", "get", ()),
    "SearchMembersExactMatches": ("/search-members", "get", ("exact_matches",)),
    "ListsMembersLocation": ("/lists/{listId}/members/{subscriberHash}", "patch", ("location",)),
    "ListsMembersMarketingPermissions": (
        "/lists/{listId}/members/{subscriberHash}",
        "patch",
        ("marketing_permissions", "items"),
    ),
}


def _placeholder(name: str, conversion: dict[str, Any]) -> dict[str, Any]:
    """The conversion's schema at the place the excerpt left unresolved."""
    path, method, steps = PLACEHOLDERS[name]
    operation = conversion["paths"][path][method]
    holder = operation["responses"]["200"] if method == "get" else operation["requestBody"]
    schema = _deref(conversion, _media(holder)["schema"])
    for step in steps:
        schema = schema["items"] if step == "items" else schema["properties"][step]
        schema = _deref(conversion, schema)
    return copy.deepcopy(schema)


def _deref(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its ``$ref`` (or a lone ``allOf`` wrapper) followed to the target."""
    while "$ref" in schema:
        schema = dig(document, schema["$ref"])
    if set(schema) - PROSE == {"allOf"} and len(schema["allOf"]) == 1:
        return _deref(document, schema["allOf"][0])
    return schema


def check(extract: dict[str, Any], vendor: dict[str, Any]) -> None:
    """Every reference resolves, no prose is left, the vendor's operations are intact."""
    for ref in refs(extract):
        dig(extract, ref)
    if strip_prose(extract) != extract:
        raise SystemExit("the extract still carries prose")
    for path, method in OPERATIONS:
        operation = extract["paths"][path][method]
        if operation["x-origin"] == "vendor":
            expected = strip_prose({**vendor["paths"][path][method], "x-origin": "vendor"})
            if operation != expected:
                raise SystemExit(f"{method.upper()} {path} differs from the vendor excerpt")
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        if declared != set(re.findall(r"{(\w+)}", path)):
            raise SystemExit(f"{method.upper()} {path}: path parameters {sorted(declared)}")


def extract(source: Path, target: Path) -> Path:
    """Write the extract and check it; its path."""
    vendor = json.loads((source / VENDOR).read_text(encoding="utf-8"))
    conversion = json.loads((source / CONVERSION).read_text(encoding="utf-8"))
    result = build(vendor, conversion)
    check(result, vendor)
    return write_extract(result, target / OUTPUT)


def main(argv: list[str] | None = None) -> int:
    """Extract the contract; print what was written."""
    return extract_main(
        argv, description=__doc__ or "", extract=extract, source=SOURCE, target=TARGET
    )


if __name__ == "__main__":
    sys.exit(main())
