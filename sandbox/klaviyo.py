"""The Klaviyo API emulator (JSON:API, revisions within Klaviyo's two-year support window).

Every route is an operation of Klaviyo's published contract (:mod:`sandbox.klaviyo_contract`):
a request is held to its parameters, body schema and scopes before it is acted on, and the
filter operators and page sizes are the ones the contract declares.

Every request needs ``Authorization: Klaviyo-API-Key <key>`` (else 401) and a ``revision``
header (else 400). Routes: ``/api/profiles`` (filter, sort, sparse fields, cursor pages),
``/api/profiles/{id}`` (GET, PATCH), ``/api/profiles/{id}/lists``, ``/api/lists``,
``/api/events`` (``include=metric`` too), ``/api/data-privacy-deletion-jobs`` (202, no body),
``/api/profile-suppression-bulk-create-jobs`` and ``...-delete-jobs`` (202 with the job, and
``GET .../{id}`` to poll), ``/api/profile-subscription-bulk-delete-jobs`` (202, no body).

Profiles show ``attributes.subscriptions`` (consent and ``email.marketing.suppression``) only
when asked with ``additional-fields[profile]=subscriptions``, as Klaviyo does. Collections
page by ``links.next``, a full URL carrying ``page[cursor]``. Rate limits are fixed windows per
endpoint (:class:`~sandbox.ratelimit.FixedWindows`); answers carry ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` (the tighter of the two windows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.config import EmulatorConfig
from sandbox.credentials import KLAVIYO_API_KEY
from sandbox.emulator import Emulator, InvalidBody, json_object, json_response
from sandbox.faults import FaultInjector
from sandbox.klaviyo_contract import load_contract
from sandbox.klaviyo_documents import (
    JSONAPI,
    base,
    document,
    error,
    event_json,
    invalid,
    job_json,
    list_json,
    not_found,
    paginate,
    profile_json,
)
from sandbox.klaviyo_params import check_additional, dig, includes_of, sort_of
from sandbox.klaviyo_query import (
    QueryError,
    parse_filter,
)
from sandbox.klaviyo_state import (
    E164,
    EMAIL_PATTERN,
    Event,
    KlaviyoInputError,
    KlaviyoState,
    Profile,
    iso,
)
from sandbox.klaviyo_vendor import (
    EVENTS_PAGE_SIZE_SINCE,
    KlaviyoVendor,
)
from sandbox.ratelimit import FixedWindows, KlaviyoLimits, Limiter, NoLimit

__all__ = ["KlaviyoState", "create_klaviyo_app"]

_CONTRACT = load_contract()
#: The filters the emulator evaluates, with the operators Klaviyo's contract allows on each.
PROFILE_FILTERS = _CONTRACT.filters(
    "GET", "/api/profiles", ("id", "email", "phone_number", "external_id", "created", "updated")
)
EVENT_FILTERS = _CONTRACT.filters(
    "GET", "/api/events", ("profile_id", "metric_id", "datetime", "timestamp")
)
LIST_FILTERS = _CONTRACT.filters("GET", "/api/lists", ("id", "name"))
#: Each collection's default and largest ``page[size]``, as the contract declares them.
PROFILE_PAGES = _CONTRACT.page_bounds("GET", "/api/profiles")
EVENT_PAGES = _CONTRACT.page_bounds("GET", "/api/events")
LIST_PAGES = _CONTRACT.page_bounds("GET", "/api/lists")
SUPPRESSION_CREATE = "profile-suppression-bulk-create-job"
SUPPRESSION_DELETE = "profile-suppression-bulk-delete-job"
UNSUBSCRIBE = "profile-subscription-bulk-delete-job"
DELETION = "data-privacy-deletion-job"


def create_klaviyo_app(
    state: KlaviyoState,
    config: EmulatorConfig | None = None,
    *,
    limits: KlaviyoLimits | None = None,
    injector: FaultInjector | None = None,
    api_key: str = KLAVIYO_API_KEY,
) -> Starlette:
    """The Klaviyo emulator over ``state``; binds ``config`` to the state (clock, job delay)."""
    config = config or state.config
    state.config = config
    limiter: Limiter = NoLimit()
    if config.rate_limits:
        limiter = FixedWindows(limits=limits or KlaviyoLimits(), config=config)
    emulator = Emulator(
        vendor=KlaviyoVendor(api_key=api_key, today=lambda: config.wall_clock().date()),
        config=config,
        calls=state.calls,
        injector=injector or FaultInjector(config.faults),
        limiter=limiter,
        settle=state.settle,
    )

    async def profiles(request: Request) -> Response:
        try:
            conditions = parse_filter(request.query_params.get("filter"), PROFILE_FILTERS)
            check_additional(request)
            sort = sort_of(request, "id", ("id", "created", "updated", "email"))
            found = state.profiles_where(conditions)
            field = sort.lstrip("-")

            def key(p: Profile) -> tuple[str, ...]:
                value = getattr(p, field)
                text = iso(value) if field in ("created", "updated") else str(value or "")
                return (text or "", p.id)

            found.sort(key=key, reverse=sort.startswith("-"))
            page, links = paginate(
                request, found, key, bounds=PROFILE_PAGES, descending=sort.startswith("-")
            )
        except QueryError as exc:
            return invalid(exc.detail, parameter=exc.parameter)
        return document([profile_json(request, p) for p in page], links)

    async def profile(request: Request) -> Response:
        try:
            check_additional(request)
        except QueryError as exc:
            return invalid(exc.detail, parameter=exc.parameter)
        found = state.get(request.path_params["profile_id"])
        if found is None:
            return _no_profile(request)
        return document(profile_json(request, found), {"self": str(request.url)})

    async def patch_profile(request: Request) -> Response:
        profile_id = request.path_params["profile_id"]
        try:
            data = (await json_object(request)).get("data")
        except InvalidBody as exc:
            return invalid(str(exc))
        if not isinstance(data, dict) or data.get("type") != "profile":
            return invalid("The resource type must be 'profile'.", pointer="/data/type")
        if data.get("id") != profile_id:
            return invalid("The id in the body must match the URL.", pointer="/data/id")
        attributes = data.get("attributes") or {}
        if not isinstance(attributes, dict):
            return invalid("'attributes' must be an object.", pointer="/data/attributes")
        state.calls.record_effect("profile_updated", profile_id)
        try:
            updated = state.update(profile_id, attributes)
        except KlaviyoInputError as exc:
            title = "Conflict." if exc.status == 409 else "Invalid input."
            return error(
                exc.status, exc.code, title, exc.detail, pointer=exc.pointer, meta=exc.meta
            )
        if updated is None:
            return _no_profile(request)
        return document(profile_json(request, updated), {"self": str(request.url)})

    async def profile_lists(request: Request) -> Response:
        found = state.get(request.path_params["profile_id"])
        if found is None:
            return _no_profile(request)
        # The operation has no page parameters: every list of the profile in one answer.
        return document(
            [list_json(request, k) for k in state.lists_of(found)], {"self": str(request.url)}
        )

    async def lists(request: Request) -> Response:
        try:
            conditions = parse_filter(request.query_params.get("filter"), LIST_FILTERS)
            with state.lock:
                items = sorted(state.lists.values(), key=lambda k: k.id)
            for cond in conditions:
                values = cond.value if cond.op == "any" else [cond.value]
                items = [k for k in items if str(getattr(k, cond.field)) in map(str, values)]
            page, links = paginate(request, items, lambda k: (k.id,), bounds=LIST_PAGES)
        except QueryError as exc:
            return invalid(exc.detail, parameter=exc.parameter)
        return document([list_json(request, k) for k in page], links)

    async def events(request: Request) -> Response:
        revision = request.headers.get("revision", "").strip()
        if "page[size]" in request.query_params and revision < EVENTS_PAGE_SIZE_SINCE:
            return invalid(
                f"'page[size]' is not a valid parameter for revision {revision}.",
                parameter="page[size]",
            )
        try:
            conditions = parse_filter(request.query_params.get("filter"), EVENT_FILTERS)
            include = includes_of(request, {"metric"})
            sort = sort_of(request, "datetime", ("datetime", "timestamp"))
            found = state.events_where(conditions)
            descending = sort.startswith("-")
            if descending:
                found.reverse()

            def key(e: Event) -> tuple[str, ...]:
                return (iso(e.datetime) or "", e.id)

            page, links = paginate(request, found, key, bounds=EVENT_PAGES, descending=descending)
        except QueryError as exc:
            return invalid(exc.detail, parameter=exc.parameter)
        body: dict[str, Any] = {"data": [event_json(request, e) for e in page], "links": links}
        if include:
            with state.lock:
                metrics = [
                    state.metrics[i]
                    for i in sorted({e.metric_id for e in page})
                    if i in state.metrics
                ]
            body["included"] = [
                {
                    "type": "metric",
                    "id": m.id,
                    "attributes": {"name": m.name, "integration": {"name": m.integration}},
                    "links": {"self": f"{base(request)}/api/metrics/{m.id}"},
                }
                for m in metrics
            ]
        return json_response(body, media_type=JSONAPI)

    async def deletion_job(request: Request) -> Response:
        try:
            data = (await json_object(request)).get("data")
        except InvalidBody as exc:
            return invalid(str(exc))
        if not isinstance(data, dict) or data.get("type") != DELETION:
            return invalid(f"The resource type must be '{DELETION}'.", pointer="/data/type")
        subject = dig(data, "attributes", "profile", "data")
        if not isinstance(subject, dict):
            return invalid("A profile is required.", pointer="/data/attributes/profile")
        if not isinstance(subject.get("attributes"), dict):  # required by the contract
            return invalid(
                "'attributes' is a required property",
                pointer="/data/attributes/profile/data/attributes",
            )
        attributes = subject.get("attributes") or {}
        given = {
            "id": subject.get("id")
            or (attributes.get("id") if isinstance(attributes, dict) else None),
            "email": attributes.get("email") if isinstance(attributes, dict) else None,
            "phone_number": attributes.get("phone_number")
            if isinstance(attributes, dict)
            else None,
        }
        present = {k: v for k, v in given.items() if v}
        if len(present) != 1 or not all(isinstance(v, str) for v in present.values()):
            return invalid(
                "Exactly one profile identifier (id, email or phone_number) is required.",
                pointer="/data/attributes/profile/data",
            )
        ((kind, value),) = present.items()
        matched = state.find(kind, value)
        subjects = [p.id for p in matched] or [f"{kind}:{value.lower()}"]
        for subject_id in subjects:
            state.calls.record_effect("deletion_requested", subject_id)
        state.request_deletion(kind, value)
        return Response(status_code=202)

    async def read_profiles(request: Request, job_type: str) -> list[str] | Response:
        try:
            data = (await json_object(request)).get("data")
        except InvalidBody as exc:
            return invalid(str(exc))
        if not isinstance(data, dict) or data.get("type") != job_type:
            return invalid(f"The resource type must be '{job_type}'.", pointer="/data/type")
        items = dig(data, "attributes", "profiles", "data")
        if not isinstance(items, list) or not 1 <= len(items) <= 100:
            return invalid(
                "Between 1 and 100 profiles are required.", pointer="/data/attributes/profiles/data"
            )
        emails = []
        for index, item in enumerate(items):
            email = dig(item, "attributes", "email")
            phone = dig(item, "attributes", "phone_number")
            pointer = f"/data/attributes/profiles/data/{index}/attributes"
            if job_type == UNSUBSCRIBE and not isinstance(
                dig(item, "attributes", "subscriptions"), dict
            ):
                # required by the contract: which channels the profile is unsubscribed from
                return invalid("'subscriptions' is a required property", pointer=pointer)
            if job_type == UNSUBSCRIBE and email is None and isinstance(phone, str):
                if not E164.match(phone):
                    return invalid("Invalid phone number format.", pointer=pointer)
                continue
            if not isinstance(email, str) or not EMAIL_PATTERN.match(email):
                return invalid("Invalid email address.", pointer=f"{pointer}/email")
            emails.append(email)
        return emails

    def effects(kind: str, emails: list[str]) -> None:
        for email in emails:
            matched = state.find("email", email)
            for subject in [p.id for p in matched] or [f"email:{email.lower()}"]:
                state.calls.record_effect(kind, subject)

    def bulk_create(job_type: str, kind: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            emails = await read_profiles(request, job_type)
            if isinstance(emails, Response):
                return emails
            effects(kind, emails)
            job = state.create_bulk_job(job_type, emails)
            return document(
                job_json(request, job),
                {"self": job_json(request, job)["links"]["self"]},
                status=202,
            )

        return handler

    def bulk_get(job_type: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            job = state.bulk_job(job_type, request.path_params["job_id"])
            if job is None:
                return not_found(
                    f"A {job_type} with id {request.path_params['job_id']} does not exist."
                )
            return document(job_json(request, job), {"self": str(request.url)})

        return handler

    async def unsubscribe(request: Request) -> Response:
        emails = await read_profiles(request, UNSUBSCRIBE)
        if isinstance(emails, Response):
            return emails
        body = await json_object(request)
        list_id = dig(body, "data", "relationships", "list", "data", "id")
        if list_id is not None:
            with state.lock:
                known = list_id in state.lists
            if not known:
                return not_found(f"A list with id {list_id} does not exist.")
        effects("unsubscribe_requested", emails)
        phones = [
            phone
            for item in dig(body, "data", "attributes", "profiles", "data") or []
            if isinstance(phone := dig(item, "attributes", "phone_number"), str)
            and isinstance(dig(item, "attributes", "subscriptions", "sms"), dict)
        ]
        for phone in phones:
            for found in state.find("phone_number", phone):
                state.calls.record_effect("sms_unsubscribe_requested", found.id)
        state.unsubscribe(emails, list_id, phones)
        return Response(status_code=202)

    def route(method: str, template: str, handler: Callable[[Request], Any]) -> Route:
        """The route of one contract operation: checked against the contract, then handled."""
        operation = _CONTRACT.operation(method, template.replace("{profile_id}", "{id}"))

        async def checked(request: Request) -> Response:
            scopes = state.key_scopes
            refused = _CONTRACT.problem(
                operation,
                request.query_params.multi_items(),
                await request.body(),
                _CONTRACT.every_scope if scopes is None else scopes,
            )
            if refused is not None:
                return refused
            answer: Response = await handler(request)
            return answer

        return emulator.route(method, template, checked)

    create, delete = SUPPRESSION_CREATE + "s", SUPPRESSION_DELETE + "s"
    routes = [
        route("GET", "/api/profiles", profiles),
        route("GET", "/api/profiles/{profile_id}", profile),
        route("PATCH", "/api/profiles/{profile_id}", patch_profile),
        route("GET", "/api/profiles/{profile_id}/lists", profile_lists),
        route("GET", "/api/lists", lists),
        route("GET", "/api/events", events),
        route("POST", "/api/data-privacy-deletion-jobs", deletion_job),
        route("POST", f"/api/{create}", bulk_create(SUPPRESSION_CREATE, "suppression_requested")),
        route("GET", f"/api/{create}/{{job_id}}", bulk_get(SUPPRESSION_CREATE)),
        route("POST", f"/api/{delete}", bulk_create(SUPPRESSION_DELETE, "unsuppression_requested")),
        route("GET", f"/api/{delete}/{{job_id}}", bulk_get(SUPPRESSION_DELETE)),
        route("POST", f"/api/{UNSUBSCRIBE}s", unsubscribe),
    ]
    return emulator.app(routes)


def _no_profile(request: Request) -> Response:
    return not_found(f"A profile with id {request.path_params['profile_id']} does not exist.")
