"""Mailchimp's official Python client (mailchimp-marketing) against the emulator, over sockets.

The client is generated from Mailchimp's own spec: if the emulator answers it as Mailchimp
would, the emulator is not merely agreeing with our connector. It authenticates with HTTP Basic
(any user name, the API key as password), sends its bodies as the spec declares them and raises
``ApiClientError`` with the status and the problem document on every error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import mailchimp_marketing
import pytest
from mailchimp_marketing.api_client import ApiClientError

from sandbox import JONAS, MAILCHIMP_EVENTS_LIST_ID, MAILCHIMP_LIST_ID, MARIA
from sandbox.mailchimp_state import subscriber_hash
from sandbox.server import RunningSandbox, running_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSandbox]:
    """One fault-free sandbox for the module."""
    with running_sandbox(seed=31, customers=40) as box:
        yield box


def client_for(running: RunningSandbox, api_key: str) -> Any:
    """The official client, its host the emulator instead of ``<dc>.api.mailchimp.com``."""
    client = mailchimp_marketing.Client()
    client.set_config({"api_key": api_key, "server": ""})
    client.api_client.host = f"{running.mailchimp_url}/3.0"
    return client


@pytest.fixture
def client(running: RunningSandbox) -> Any:
    return client_for(running, running.mailchimp_api_key)


def problem(error: ApiClientError) -> dict[str, Any]:
    """The problem document an ``ApiClientError`` carries."""
    text = error.text
    body: dict[str, Any] = text if isinstance(text, dict) else json.loads(text)
    return body


def test_ping_answers_with_the_clients_basic_auth(client: Any) -> None:
    assert client.ping.get() == {"health_status": "Everything's Chimpy!"}


def test_a_wrong_key_is_a_401_problem_document(running: RunningSandbox) -> None:
    with pytest.raises(ApiClientError) as caught:
        client_for(running, "ffffffffffffffffffffffffffffffff-us21").ping.get()
    assert caught.value.status_code == 401
    body = problem(caught.value)
    assert body["status"] == 401
    assert {"type", "title", "status", "detail", "instance"} <= body.keys()


def test_search_members_finds_every_audience_membership(client: Any) -> None:
    """Jonas is in the newsletter and the events audience; the search lists both."""
    found = client.searchMembers.search(JONAS.email)
    members = found["exact_matches"]["members"]
    assert sorted(m["list_id"] for m in members) == sorted(
        (MAILCHIMP_LIST_ID, MAILCHIMP_EVENTS_LIST_ID)
    )
    assert {m["id"] for m in members} == {subscriber_hash(JONAS.email)}


def test_search_without_a_match_is_empty_not_an_error(client: Any) -> None:
    found = client.searchMembers.search("nobody-here@example.org")
    assert found["exact_matches"]["members"] == []


def test_a_member_is_read_by_hash_and_by_its_address(client: Any) -> None:
    """Mailchimp's member paths also accept the address in place of the subscriber hash."""
    by_hash = client.lists.get_list_member(MAILCHIMP_LIST_ID, MARIA.mailchimp_subscriber_hash)
    by_address = client.lists.get_list_member(MAILCHIMP_LIST_ID, MARIA.email)
    assert by_hash["email_address"] == by_address["email_address"] == MARIA.email
    assert by_hash["id"] == MARIA.mailchimp_subscriber_hash


def test_update_then_unsubscribe_through_the_client(client: Any, running: RunningSandbox) -> None:
    state = running.sandbox.mailchimp
    email = next(
        m.email_address
        for m in state.members.values()
        if m.status == "subscribed" and len(state.memberships(m.email_address)) == 1
    )
    key = subscriber_hash(email)
    updated = client.lists.update_list_member(
        MAILCHIMP_LIST_ID, key, {"merge_fields": {"FNAME": "Renamed"}}
    )
    assert updated["merge_fields"]["FNAME"] == "Renamed"
    left = client.lists.update_list_member(MAILCHIMP_LIST_ID, key, {"status": "unsubscribed"})
    assert left["status"] == "unsubscribed"


def test_a_status_outside_the_enum_is_a_400_problem(client: Any) -> None:
    with pytest.raises(ApiClientError) as caught:
        client.lists.update_list_member(
            MAILCHIMP_LIST_ID, MARIA.mailchimp_subscriber_hash, {"status": "deleted"}
        )
    assert caught.value.status_code == 400
    assert problem(caught.value)["title"] == "Invalid Resource"


def test_set_list_member_needs_a_status_or_status_if_new(client: Any) -> None:
    """The PUT body is ``oneOf`` two shapes; an address alone fits neither."""
    with pytest.raises(ApiClientError) as caught:
        client.lists.set_list_member(
            MAILCHIMP_LIST_ID, MARIA.mailchimp_subscriber_hash, {"email_address": MARIA.email}
        )
    assert caught.value.status_code == 400


def test_delete_permanent_forgets_the_address(client: Any, running: RunningSandbox) -> None:
    """After ``delete-permanent`` the member is gone, and the audience refuses to re-add it."""
    state = running.sandbox.mailchimp
    email = next(
        m.email_address
        for m in state.members.values()
        if m.status == "subscribed" and len(state.memberships(m.email_address)) == 1
    )
    key = subscriber_hash(email)
    client.lists.delete_list_member_permanent(MAILCHIMP_LIST_ID, key)
    with pytest.raises(ApiClientError) as gone:
        client.lists.get_list_member(MAILCHIMP_LIST_ID, key)
    assert gone.value.status_code == 404
    with pytest.raises(ApiClientError) as refused:
        client.lists.add_list_member(
            MAILCHIMP_LIST_ID, {"email_address": email, "status": "subscribed"}
        )
    assert refused.value.status_code == 400
    assert problem(refused.value)["title"] == "Forgotten Email Not Subscribed"
