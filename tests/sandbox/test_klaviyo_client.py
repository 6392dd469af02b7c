"""Klaviyo's official Python client (klaviyo-api) against the emulator, over real sockets.

The client is generated from Klaviyo's own OpenAPI description, so it is the vendor's reading
of its API rather than ours: its pydantic models refuse a request body the contract forbids
before it is sent, and refuse an answer that lacks a field the contract requires. It also sends
its own ``revision`` header, newer than the newest contract the emulator holds (2026-07-15),
which the emulator serves as that newest contract. If the emulator answers this client as
Klaviyo would, it cannot drift into accepting only the dialect our connector speaks.

Every operation the Klaviyo connector uses goes through the client once: profiles found by
e-mail and by E.164 phone number, a profile, its lists, its events, a PATCH, suppression and
unsuppression jobs and their status, the SMS unsubscribe job and the data-privacy deletion job.
Each effect is checked in the emulator's state or by a second call. Jobs complete as soon as
they are due (no delay), so the effect is visible on the next request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from klaviyo_api import KlaviyoAPI
from openapi_client.exceptions import ApiException
from pydantic import ValidationError

from sandbox import JONAS, MARIA, NEWSLETTER_ONLY
from sandbox.klaviyo_state import KlaviyoState, Profile
from sandbox.server import RunningSandbox, running_sandbox

pytestmark = pytest.mark.integration

TODAY = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
#: The newest Klaviyo contract the emulator holds; the client's revision is newer.
NEWEST_CONTRACT = "2026-07-15"
JSONAPI = "application/vnd.api+json"
PERSONA_IDS = {p.klaviyo_profile_id for p in (MARIA, JONAS, NEWSLETTER_ONLY)}


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSandbox]:
    """One sandbox for the module, on a fixed date; Klaviyo's jobs complete when next asked."""
    with running_sandbox(seed=31, customers=40, async_delay=0.0, wall_clock=lambda: TODAY) as box:
        yield box


def client_for(running: RunningSandbox, api_key: str) -> Any:
    """The official client, its host the emulator instead of ``https://a.klaviyo.com``."""
    return KlaviyoAPI(api_key, max_delay=1, max_retries=3, test_host=running.klaviyo_url)


@pytest.fixture
def klaviyo(running: RunningSandbox) -> Any:
    return client_for(running, running.klaviyo_api_key)


@pytest.fixture
def state(running: RunningSandbox) -> KlaviyoState:
    return running.sandbox.klaviyo


def spare(state: KlaviyoState, wanted: Callable[[Profile], bool]) -> Profile:
    """A seeded profile that is none of the personas, for a test that changes or removes it."""
    with state.lock:
        candidates = sorted(state.profiles.values(), key=lambda p: p.id)
        return next(p for p in candidates if p.id not in PERSONA_IDS and p.email and wanted(p))


def errors(error: ApiException) -> list[dict[str, Any]]:
    """The JSON:API ``errors`` an ``ApiException`` carries in its body."""
    assert error.body is not None
    found: list[dict[str, Any]] = json.loads(error.body)["errors"]
    return found


def send_as_given(
    klaviyo: Any,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    query: list[tuple[str, str]] | None = None,
) -> Any:
    """A request exactly as given, through the client's own transport, key and revision.

    The typed methods check a body and parameters against the client's models before
    sending; this is the client's generic request path, for what the models would not let out.
    """
    api = klaviyo.api_client
    request = api.param_serialize(
        method=method,
        resource_path=path,
        query_params=query,
        header_params={"Accept": JSONAPI, "Content-Type": JSONAPI},
        body=body,
        auth_settings=["Klaviyo-API-Key"],
    )
    response = api.call_api(*request)
    response.read()
    return api.response_deserialize(
        response_data=response,
        response_types_map={"2XX": "Dict[str, object]", "4XX": "GetAccounts4XXResponse"},
    )


def suppressions(klaviyo: Any, profile_id: str) -> list[str]:
    """The reasons a profile's e-mail marketing is suppressed, read back through the client."""
    answer = klaviyo.Profiles.get_profile(profile_id, additional_fields_profile=["subscriptions"])
    marketing = answer.data.attributes.subscriptions.email.marketing
    return [s.reason for s in marketing.suppression or []]


def bulk(job_type: str, *emails: str) -> dict[str, Any]:
    """A suppression or unsuppression job body naming profiles by e-mail."""
    profiles = [{"type": "profile", "attributes": {"email": e}} for e in emails]
    return {"data": {"type": job_type, "attributes": {"profiles": {"data": profiles}}}}


def test_the_clients_newer_revision_is_served_as_the_newest_contract(klaviyo: Any) -> None:
    """The client pins a revision released after the newest contract on file and still within
    Klaviyo's two-year window: the emulator answers it instead of refusing it."""
    revision = klaviyo.api_client.default_headers["revision"]
    assert NEWEST_CONTRACT < revision <= TODAY.date().isoformat()
    answer = klaviyo.Profiles.get_profiles(page_size=1)
    assert len(answer.data) == 1


def test_profiles_are_found_by_email_with_their_subscriptions(klaviyo: Any) -> None:
    answer = klaviyo.Profiles.get_profiles(
        filter=f'equals(email,"{MARIA.email}")',
        page_size=100,
        additional_fields_profile=["subscriptions"],
    )
    (profile,) = answer.data
    assert profile.id == MARIA.klaviyo_profile_id
    assert profile.attributes.email == MARIA.email
    assert profile.attributes.subscriptions.email.marketing.consent == "SUBSCRIBED"
    assert answer.links.next is None


def test_profiles_are_found_by_the_exact_e164_phone_number(klaviyo: Any) -> None:
    """Klaviyo stores E.164 and compares it exactly: another spelling of the number is no match."""
    assert MARIA.phone == "+436601234567"
    exact = klaviyo.Profiles.get_profiles(
        filter=f'equals(phone_number,"{MARIA.phone}")', page_size=100
    )
    assert [p.id for p in exact.data] == [MARIA.klaviyo_profile_id]
    spaced = klaviyo.Profiles.get_profiles(
        filter='equals(phone_number,"+43 660 1234567")', page_size=100
    )
    assert spaced.data == []


def test_a_profile_is_read_by_id_with_its_subscriptions(klaviyo: Any) -> None:
    answer = klaviyo.Profiles.get_profile(
        JONAS.klaviyo_profile_id, additional_fields_profile=["subscriptions"]
    )
    assert answer.data.id == JONAS.klaviyo_profile_id
    assert answer.data.attributes.email == JONAS.klaviyo_email
    assert answer.data.attributes.subscriptions.email.marketing.consent == "SUBSCRIBED"


def test_an_unknown_profile_is_a_404_with_jsonapi_errors(klaviyo: Any) -> None:
    with pytest.raises(ApiException) as caught:
        klaviyo.Profiles.get_profile("01JA00000000000000000NOBODY")
    assert caught.value.status == 404
    (error,) = errors(caught.value)
    assert error["code"] == "not_found"


def test_a_profiles_lists_are_listed(klaviyo: Any, state: KlaviyoState) -> None:
    answer = klaviyo.Profiles.get_lists_for_profile(MARIA.klaviyo_profile_id)
    maria = state.get(MARIA.klaviyo_profile_id or "")
    assert maria is not None
    assert len(answer.data) == MARIA.klaviyo_lists == 2
    assert sorted(item.id for item in answer.data) == sorted(maria.list_ids)


def test_profiles_page_by_the_cursor_in_links_next(klaviyo: Any, state: KlaviyoState) -> None:
    """The cursor taken from ``links.next`` leads through every profile exactly once."""
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        answer = klaviyo.Profiles.get_profiles(page_size=7, page_cursor=cursor)
        seen += [p.id for p in answer.data]
        pages += 1
        if answer.links.next is None:
            break
        (cursor,) = parse_qs(urlsplit(answer.links.next).query)["page[cursor]"]
    with state.lock:
        everyone = sorted(state.profiles)
    assert pages > 1
    assert seen == everyone


def test_events_are_filtered_by_profile_and_sized_by_page_size(klaviyo: Any) -> None:
    """The connector's query (a profile filter, ``page[size]`` 100) answers every one of Maria's
    events on one page, each fitting the client's event model (relationship links included)."""
    answer = klaviyo.Events.get_events(
        filter=f'equals(profile_id,"{MARIA.klaviyo_profile_id}")', page_size=100
    )
    assert len(answer.data) == MARIA.klaviyo_events == 32
    assert {e.relationships.profile.data.id for e in answer.data} == {MARIA.klaviyo_profile_id}
    assert all(e.relationships.metric.links.var_self for e in answer.data)
    assert answer.links.next is None


def test_events_page_by_200_when_no_page_size_is_given(klaviyo: Any) -> None:
    """The contract's default for ``GET /api/events`` is 200, unlike the 20 of profiles."""
    answer = klaviyo.Events.get_events(filter=f'equals(profile_id,"{MARIA.klaviyo_profile_id}")')
    assert len(answer.data) == 32
    assert answer.links.next is None


def test_events_take_a_page_size_up_to_1000_and_no_more(klaviyo: Any) -> None:
    """Both the client and the emulator hold ``GET /api/events`` to the contract's 1 to 1000."""
    answer = klaviyo.Events.get_events(
        filter=f'equals(profile_id,"{MARIA.klaviyo_profile_id}")', page_size=1000
    )
    assert len(answer.data) == 32
    with pytest.raises(ValidationError):
        klaviyo.Events.get_events(page_size=1001)
    with pytest.raises(ApiException) as caught:
        send_as_given(klaviyo, "GET", "/api/events", query=[("page[size]", "1001")])
    assert caught.value.status == 400
    (error,) = errors(caught.value)
    assert error["source"] == {"parameter": "page[size]"}


def test_patch_changes_only_the_attributes_it_sends(klaviyo: Any, state: KlaviyoState) -> None:
    target = spare(state, lambda p: bool(p.last_name))
    body = {
        "data": {
            "type": "profile",
            "id": target.id,
            "attributes": {"first_name": "Renamed", "location": {"city": "Graz"}},
        }
    }
    answer = klaviyo.Profiles.update_profile(target.id, body)
    assert answer.data.attributes.first_name == "Renamed"
    assert answer.data.attributes.location.city == "Graz"
    stored = state.get(target.id)
    assert stored is not None
    assert (stored.first_name, stored.location["city"]) == ("Renamed", "Graz")
    assert stored.last_name == target.last_name


def test_a_suppression_job_suppresses_and_reports_completion(
    klaviyo: Any, state: KlaviyoState
) -> None:
    target = spare(state, lambda p: not p.suppressions)
    assert target.email is not None
    created = klaviyo.Profiles.bulk_suppress_profiles(
        bulk("profile-suppression-bulk-create-job", target.email)
    )
    assert created.data.attributes.total_count == 1
    job = klaviyo.Profiles.get_bulk_suppress_profiles_job(created.data.id)
    assert job.data.attributes.status == "complete"
    assert job.data.attributes.completed_count == 1
    assert suppressions(klaviyo, target.id) == ["USER_SUPPRESSED"]


def test_an_unsuppression_job_lifts_the_user_suppression(klaviyo: Any, state: KlaviyoState) -> None:
    target = spare(state, lambda p: not p.suppressions)
    assert target.email is not None
    klaviyo.Profiles.bulk_suppress_profiles(
        bulk("profile-suppression-bulk-create-job", target.email)
    )
    assert suppressions(klaviyo, target.id) == ["USER_SUPPRESSED"]
    created = klaviyo.Profiles.bulk_unsuppress_profiles(
        bulk("profile-suppression-bulk-delete-job", target.email)
    )
    job = klaviyo.Profiles.get_bulk_unsuppress_profiles_job(created.data.id)
    assert job.data.attributes.status == "complete"
    assert job.data.attributes.completed_count == 1
    assert suppressions(klaviyo, target.id) == []


def test_an_sms_unsubscribe_ends_sms_consent_and_keeps_email_consent(klaviyo: Any) -> None:
    """The connector's body: the profile by phone number, ``subscriptions`` naming SMS only."""
    before = klaviyo.Profiles.get_profile(
        MARIA.klaviyo_profile_id, additional_fields_profile=["subscriptions"]
    )
    assert before.data.attributes.subscriptions.sms.marketing.consent == "SUBSCRIBED"
    unsubscribed = {"sms": {"marketing": {"consent": "UNSUBSCRIBED"}}}
    body = {
        "data": {
            "type": "profile-subscription-bulk-delete-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "phone_number": MARIA.phone,
                                "subscriptions": unsubscribed,
                            },
                        }
                    ]
                }
            },
        }
    }
    assert klaviyo.Profiles.bulk_unsubscribe_profiles(body) is None  # 202, no body
    after = klaviyo.Profiles.get_profile(
        MARIA.klaviyo_profile_id, additional_fields_profile=["subscriptions"]
    )
    channels = after.data.attributes.subscriptions
    assert channels.sms.marketing.consent == "UNSUBSCRIBED"
    assert channels.sms.marketing.can_receive_sms_marketing is False
    assert channels.email.marketing.consent == "SUBSCRIBED"


def test_a_deletion_job_removes_the_profile_and_leaves_its_events_redacted(
    klaviyo: Any, state: KlaviyoState
) -> None:
    """The connector names the profile by id and still sends the ``attributes`` the contract
    requires; the job is accepted with 202 and no body, and afterwards the profile is gone and
    its events, kept for reporting, are tied to no profile and carry nothing but a value."""
    target = spare(state, lambda p: any(e.profile_id == p.id for e in state.events.values()))
    with state.lock:
        had_events = [e.id for e in state.events.values() if e.profile_id == target.id]
    assert had_events
    body = {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {
                "profile": {"data": {"type": "profile", "id": target.id, "attributes": {}}}
            },
        }
    }
    assert klaviyo.Data_Privacy.request_profile_deletion(body) is None  # 202, no body
    with pytest.raises(ApiException) as gone:
        klaviyo.Profiles.get_profile(target.id)
    assert gone.value.status == 404
    assert klaviyo.Events.get_events(filter=f'equals(profile_id,"{target.id}")').data == []
    with state.lock:
        kept = [state.events[i] for i in had_events]
        assert {e.profile_id for e in kept} & {target.id} == set()
        assert all(set(e.properties) <= {"$value"} for e in kept)
        assert state.deletions[-1].removed_profiles == [target.id]


def test_a_deletion_job_without_profile_attributes_is_a_400(
    klaviyo: Any, state: KlaviyoState
) -> None:
    """The contract requires ``attributes`` on the profile even when its id names it. The
    client's model refuses such a body itself; sent anyway, the emulator refuses it too."""
    target = spare(state, lambda p: True)
    body = {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {"profile": {"data": {"type": "profile", "id": target.id}}},
        }
    }
    with pytest.raises(ValidationError):
        klaviyo.Data_Privacy.request_profile_deletion(body)
    with pytest.raises(ApiException) as caught:
        send_as_given(klaviyo, "POST", "/api/data-privacy-deletion-jobs", body=body)
    assert caught.value.status == 400
    (error,) = errors(caught.value)
    assert error["code"] == "invalid"
    assert error["source"] == {"pointer": "/data/attributes/profile/data/attributes"}
    assert state.get(target.id) is not None
    assert state.calls.effects("deletion_requested", target.id) == 0


def test_a_wrong_api_key_is_a_401_with_jsonapi_errors(running: RunningSandbox) -> None:
    with pytest.raises(ApiException) as caught:
        client_for(running, "pk_wrong").Profiles.get_profile(MARIA.klaviyo_profile_id)
    assert caught.value.status == 401
    (error,) = errors(caught.value)
    assert error["code"] == "authentication_failed"
    assert {"id", "title", "detail", "source"} <= error.keys()
