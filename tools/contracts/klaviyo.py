"""Derive the Klaviyo emulator's contract from Klaviyo's published OpenAPI spec.

The source is Klaviyo's own spec for the pinned revision (``klaviyo/openapi``, file
``openapi/stable.json``, revision 2026-07-15, MIT licence). The extract keeps the operations the
connector, the emulator and the tests use — their parameters (with the ``revision`` header),
request bodies, responses, the scopes each needs (``x-klaviyo-scopes``), its rate limits
(``x-klaviyo-ratelimit``) and the filters it accepts (``x-klaviyo-filters``) — and every
component they reach, and none of the prose: descriptions, summaries, titles, examples and
Klaviyo's documentation annotations are dropped. OpenAPI 3.0's ``nullable`` is kept as written;
the emulator reads it as JSON Schema's ``"null"``.

It is written, byte for byte reproducible, to
``sandbox/contracts/klaviyo/stable-<revision>.openapi.json`` and then checked: every reference
resolves, no prose is left, and each kept operation is the vendor's own, minus its prose.

Run from the repository's root::

    .venv/bin/python tools/contracts/klaviyo.py [--source DIR] [--target DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from sandbox.openapi import PROSE, dig, extract_main, refs, strip_prose, write_extract

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT.parent / "shared" / "vendor-contracts" / "klaviyo"
TARGET = ROOT / "sandbox" / "contracts" / "klaviyo"
REVISION = "2026-07-15"
INPUT = f"stable-{REVISION}.openapi.json"
OUTPUT = f"stable-{REVISION}.openapi.json"

#: The operations the connector, the emulator and the tests use, by path and method.
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("/api/profiles", "get"),
    ("/api/profiles/{id}", "get"),
    ("/api/profiles/{id}", "patch"),
    ("/api/profiles/{id}/lists", "get"),
    ("/api/lists", "get"),
    ("/api/events", "get"),
    ("/api/data-privacy-deletion-jobs", "post"),
    ("/api/profile-suppression-bulk-create-jobs", "post"),
    ("/api/profile-suppression-bulk-create-jobs/{job_id}", "get"),
    ("/api/profile-suppression-bulk-delete-jobs", "post"),
    ("/api/profile-suppression-bulk-delete-jobs/{job_id}", "get"),
    ("/api/profile-subscription-bulk-delete-jobs", "post"),
)
#: Klaviyo's documentation annotations: prose, navigation and release notes, no structure.
KLAVIYO_PROSE = PROSE | {
    "x-klaviyo-operation-aliases",
    "x-klaviyo-pre-release",
    "x-klaviyo-subtag",
    "x-default",
    "x-readme",
}


def build(spec: dict[str, Any]) -> dict[str, Any]:
    """The extract: the operations, every component they reach, the security scheme."""
    paths: dict[str, dict[str, Any]] = {}
    for path, method in OPERATIONS:
        paths.setdefault(path, {})[method] = strip_prose(spec["paths"][path][method], KLAVIYO_PROSE)
    document: dict[str, Any] = {
        "openapi": spec["openapi"],
        "info": {"version": spec["info"]["version"]},
        "security": spec["security"],
        "paths": paths,
        "components": {
            "securitySchemes": strip_prose(spec["components"]["securitySchemes"], KLAVIYO_PROSE)
        },
    }
    pending = refs(paths)
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)
        node = strip_prose(dig(spec, ref), KLAVIYO_PROSE)
        document["components"].setdefault(kind, {})[name] = node
        pending |= refs(node) - seen
    return document


def check(extract: dict[str, Any], spec: dict[str, Any]) -> None:
    """Every reference resolves, no prose is left, every operation is the vendor's own."""
    for ref in refs(extract):
        dig(extract, ref)
    if strip_prose(extract, KLAVIYO_PROSE) != extract:
        raise SystemExit("the extract still carries prose")
    for path, method in OPERATIONS:
        expected = strip_prose(spec["paths"][path][method], KLAVIYO_PROSE)
        if extract["paths"][path][method] != expected:
            raise SystemExit(f"{method.upper()} {path} differs from the vendor's spec")
    if extract["info"]["version"] != REVISION:
        raise SystemExit(f"the spec is revision {extract['info']['version']}, not {REVISION}")


def extract(source: Path, target: Path) -> Path:
    """Write the extract and check it; its path."""
    spec = json.loads((source / INPUT).read_text(encoding="utf-8"))
    result = build(spec)
    check(result, spec)
    return write_extract(result, target / OUTPUT)


def main(argv: list[str] | None = None) -> int:
    """Extract the contract; print what was written."""
    return extract_main(
        argv, description=__doc__ or "", extract=extract, source=SOURCE, target=TARGET
    )


if __name__ == "__main__":
    sys.exit(main())
