"""Reading a Klaviyo request's parameters and body: sort, include, extra fields, nested paths."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from sandbox.klaviyo_query import (
    QueryError,
    sparse_fields,
)


def check_additional(request: Request) -> None:
    extra = sparse_fields(request.query_params.get("additional-fields[profile]")) or set()
    unknown = extra - {"subscriptions", "predictive_analytics"}
    if unknown:
        raise QueryError(
            f"'{sorted(unknown)[0]}' is not a valid additional field.",
            parameter="additional-fields[profile]",
        )


def sort_of(request: Request, default: str, allowed: tuple[str, ...]) -> str:
    sort = request.query_params.get("sort", default)
    if sort.lstrip("-") not in allowed:
        raise QueryError(f"'{sort}' is not a valid sort field.", parameter="sort")
    return sort


def includes_of(request: Request, allowed: set[str]) -> set[str]:
    include = sparse_fields(request.query_params.get("include")) or set()
    if include - allowed:
        raise QueryError(f"Only {', '.join(sorted(allowed))} can be included.", parameter="include")
    return include


def dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
