"""The JSON:API documents the Klaviyo emulator answers with.

Resources (profiles, lists, events, suppression jobs) with their ``links`` and
``relationships``, error documents (``{"errors": [{id, status, code, title, detail, source}]}``)
and cursor pagination with top-level ``links`` whose ``next`` is a full URL. Renderers take the
request, as links are absolute and sparse fieldsets come from its query.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from sandbox.emulator import json_response
from sandbox.klaviyo_query import decode_cursor, encode_cursor, page_size, sparse_fields
from sandbox.klaviyo_state import LOCATION_KEYS, BulkJob, Event, KList, Profile, iso

JSONAPI = "application/vnd.api+json"

_T = TypeVar("_T")


def error(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    pointer: str | None = None,
    parameter: str | None = None,
    headers: dict[str, str] | None = None,
    meta: dict[str, Any] | None = None,
) -> Response:
    """A JSON:API error document with one error, as Klaviyo writes them."""
    item: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "status": status,
        "code": code,
        "title": title,
        "detail": detail,
        "source": {"parameter": parameter} if parameter else {"pointer": pointer or "/data/"},
    }
    if meta:
        item["meta"] = meta
    return json_response({"errors": [item]}, status=status, media_type=JSONAPI, headers=headers)


def invalid(detail: str, *, pointer: str | None = None, parameter: str | None = None) -> Response:
    """400 ``invalid``."""
    return error(400, "invalid", "Invalid input.", detail, pointer=pointer, parameter=parameter)


def not_found(detail: str) -> Response:
    """404 ``not_found``."""
    return error(404, "not_found", "Not found.", detail)


def paginate(
    request: Request,
    items: Sequence[_T],
    key: Callable[[_T], tuple[str, ...]],
    *,
    bounds: tuple[int, int],
    descending: bool = False,
) -> tuple[list[_T], dict[str, str]]:
    """One page of ``items`` (already in order) and the top-level ``links``.

    ``bounds`` are the operation's default and largest ``page[size]``. As Klaviyo's contract
    has it, ``links`` always has ``self`` and ``first``, and ``prev`` and ``next`` only where
    there is such a page.
    """
    default, maximum = bounds
    size = page_size(request.query_params.get("page[size]"), default=default, maximum=maximum)
    cursor = decode_cursor(request.query_params.get("page[cursor]"))

    def beyond(item: _T, mark: tuple[str, ...]) -> bool:
        return key(item) < mark if descending else key(item) > mark

    if cursor is None:
        window, page = list(items), list(items[:size])
    elif cursor[0] == "p":
        window = [i for i in items if not beyond(i, cursor[1:]) and key(i) != cursor[1:]]
        page = window[-size:]
    else:
        window = [i for i in items if beyond(i, cursor[1:])]
        page = window[:size]
    base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page[cursor]"]

    def link(cursor_key: tuple[str, ...] | None) -> str:
        extra = [("page[cursor]", encode_cursor(cursor_key))] if cursor_key else []
        query = urlencode(params + extra)
        return f"{base}?{query}" if query else base

    has_next = bool(page) and key(page[-1]) != key(items[-1])
    has_prev = bool(page) and key(page[0]) != key(items[0])
    links = {"self": str(request.url), "first": link(None)}
    if has_prev:
        links["prev"] = link(("p", *key(page[0])))
    if has_next:
        links["next"] = link(("n", *key(page[-1])))
    return page, links


def base(request: Request) -> str:
    """The scheme and host the request came to, for absolute links."""
    return f"{request.url.scheme}://{request.url.netloc}"


def profile_json(request: Request, profile: Profile) -> dict[str, Any]:
    """A profile resource, honouring ``additional-fields[profile]`` and ``fields[profile]``."""
    root = base(request)
    attributes: dict[str, Any] = {
        "email": profile.email,
        "phone_number": profile.phone_number,
        "external_id": profile.external_id,
        "anonymous_id": None,
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "organization": profile.organization,
        "locale": profile.locale,
        "title": profile.title,
        "image": profile.image,
        "created": iso(profile.created),
        "updated": iso(profile.updated),
        "last_event_date": iso(profile.last_event_date),
        "location": {k: profile.location.get(k) for k in LOCATION_KEYS},
        "properties": dict(profile.properties),
    }
    extra = sparse_fields(request.query_params.get("additional-fields[profile]")) or set()
    if "subscriptions" in extra:
        attributes["subscriptions"] = subscriptions(profile)
    wanted = sparse_fields(request.query_params.get("fields[profile]"))
    if wanted is not None:
        attributes = {k: v for k, v in attributes.items() if k in wanted}
    own = f"{root}/api/profiles/{profile.id}"
    return {
        "type": "profile",
        "id": profile.id,
        "attributes": attributes,
        "relationships": {
            rel: {"links": {"self": f"{own}/relationships/{rel}", "related": f"{own}/{rel}"}}
            for rel in ("lists", "segments")
        },
        "links": {"self": own},
    }


def list_json(request: Request, item: KList) -> dict[str, Any]:
    """A list resource."""
    own = f"{base(request)}/api/lists/{item.id}"
    return {
        "type": "list",
        "id": item.id,
        "attributes": {
            "name": item.name,
            "created": iso(item.created),
            "updated": iso(item.updated),
            "opt_in_process": item.opt_in_process,
        },
        "relationships": {
            "profiles": {
                "links": {"self": f"{own}/relationships/profiles", "related": f"{own}/profiles"}
            },
        },
        "links": {"self": own},
    }


def event_json(request: Request, event: Event) -> dict[str, Any]:
    """An event resource with its profile and metric relationships."""
    root = base(request)
    own = f"{root}/api/events/{event.id}"
    return {
        "type": "event",
        "id": event.id,
        "attributes": {
            "timestamp": int(event.datetime.timestamp()),
            "event_properties": dict(event.properties),
            "datetime": iso(event.datetime),
            "uuid": event.uuid,
        },
        "relationships": {
            "profile": {
                "data": {"type": "profile", "id": event.profile_id},
                "links": {
                    "self": f"{own}/relationships/profile",
                    "related": f"{root}/api/profiles/{event.profile_id}",
                },
            },
            "metric": {
                "data": {"type": "metric", "id": event.metric_id},
                "links": {
                    "self": f"{own}/relationships/metric",
                    "related": f"{root}/api/metrics/{event.metric_id}",
                },
            },
        },
        "links": {"self": own},
    }


def job_json(request: Request, job: BulkJob) -> dict[str, Any]:
    """A suppression job resource, as created and as polled."""
    return {
        "type": job.type,
        "id": job.id,
        "attributes": {
            "status": job.status,
            "created_at": iso(job.created_at),
            "total_count": len(job.emails),
            "completed_count": job.completed_count,
            "skipped_count": job.skipped_count,
            "completed_at": iso(job.completed_at),
        },
        "links": {"self": f"{base(request)}/api/{job.type}s/{job.id}"},
    }


def document(data: Any, links: dict[str, Any], status: int = 200) -> Response:
    """A top-level JSON:API document."""
    return json_response({"data": data, "links": links}, status=status, media_type=JSONAPI)


def subscriptions(profile: Profile) -> dict[str, Any]:
    """``attributes.subscriptions``: e-mail and SMS marketing consent."""
    stamp = iso(profile.consent_timestamp)
    return {
        "email": {
            "marketing": {
                "can_receive_email_marketing": profile.email_consent == "SUBSCRIBED"
                and not profile.suppressions,
                "consent": profile.email_consent,
                "consent_timestamp": stamp,
                "last_updated": stamp,
                "method": "API" if stamp else None,
                "method_detail": None,
                "custom_method_detail": None,
                "double_optin": None,
                "suppression": [dict(s) for s in profile.suppressions],
                "list_suppressions": [],
            }
        },
        "sms": {
            "marketing": {
                "can_receive_sms_marketing": profile.sms_consent == "SUBSCRIBED",
                "consent": profile.sms_consent,
                "consent_timestamp": iso(profile.sms_consent_timestamp),
                "method": "API" if profile.sms_consent_timestamp else None,
                "method_detail": None,
                "last_updated": iso(profile.sms_consent_timestamp),
            },
            "transactional": None,
        },
        "mobile_push": None,
    }
