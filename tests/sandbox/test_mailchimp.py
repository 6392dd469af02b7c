"""The Mailchimp emulator: authentication, members, audiences, search, throttling.

How it holds requests to Mailchimp's published contract is in ``test_mailchimp_contract.py``;
Mailchimp's own client drives it in ``test_mailchimp_client.py``."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import pytest

from sandbox import (
    JONAS,
    MAILCHIMP_EVENTS_LIST_ID,
    MAILCHIMP_LIST_ID,
    MARIA,
    FaultConfig,
    MailchimpLimits,
    Sandbox,
)
from tests.sandbox.conftest import MAILCHIMP_AUTH, FakeClock, client

pytestmark = pytest.mark.anyio

MEMBERS = f"/3.0/lists/{MAILCHIMP_LIST_ID}/members"
EVENTS = MAILCHIMP_EVENTS_LIST_ID


def member_path(email: str, list_id: str = MAILCHIMP_LIST_ID) -> str:
    digest = hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()
    return f"/3.0/lists/{list_id}/members/{digest}"


class TestAuthentication:
    async def test_basic_auth_takes_any_user_and_the_key_as_password(
        self, sandbox: Sandbox
    ) -> None:
        """Any user name works with the key; a wrong or missing key is a 401 problem."""
        async with client(sandbox.mailchimp_app, "http://mc.test") as c:
            ok = await c.get("/3.0/ping", auth=("whoever", MAILCHIMP_AUTH[1]))
            wrong = await c.get("/3.0/ping", auth=("whoever", "0" * 32 + "-us1"))
            missing = await c.get("/3.0/ping")
        assert ok.status_code == 200
        for response in (wrong, missing):
            assert response.status_code == 401
            assert response.headers["content-type"].startswith("application/problem+json")
            assert {"type", "title", "status", "detail", "instance"} <= response.json().keys()

    async def test_the_key_is_also_accepted_as_a_bearer_token(self, sandbox: Sandbox) -> None:
        """Basic and Bearer are the schemes the contract names; any other is refused."""
        key = MAILCHIMP_AUTH[1]
        async with client(sandbox.mailchimp_app, "http://mc.test") as c:
            bearer = await c.get("/3.0/ping", headers={"Authorization": f"Bearer {key}"})
            wrong = await c.get("/3.0/ping", headers={"Authorization": "Bearer not-the-key"})
            other = await c.get("/3.0/ping", headers={"Authorization": f"apikey {key}"})
        assert bearer.status_code == 200
        assert [r.status_code for r in (wrong, other)] == [401, 401]
        assert [r.json()["title"] for r in (wrong, other)] == ["API Key Invalid", "API Key Missing"]


class TestMembers:
    async def test_member_is_found_by_hash_of_the_lowercased_address(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        """Jonas is stored upper-case; the MD5 of his lower-cased address finds him."""
        response = await mailchimp.get(member_path(JONAS.email))
        assert response.status_code == 200
        member = response.json()
        assert member["email_address"] == "JONAS.BEISPIEL@example.com"
        assert member["id"] == JONAS.mailchimp_subscriber_hash
        assert member["list_id"] == MAILCHIMP_LIST_ID

    async def test_maria_is_subscribed_with_her_merge_fields(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        """The persona's member record carries status and FNAME/LNAME."""
        member = (await mailchimp.get(member_path(MARIA.email))).json()
        assert member["status"] == "subscribed"
        assert (member["merge_fields"]["FNAME"], member["merge_fields"]["LNAME"]) == (
            "Maria",
            "Muster",
        )

    async def test_unknown_member_is_a_404_problem(self, mailchimp: httpx.AsyncClient) -> None:
        """An unknown hash answers 404 "Resource Not Found" as problem+json."""
        response = await mailchimp.get(member_path("nobody@example.com"))
        assert response.status_code == 404
        body = response.json()
        assert (body["title"], body["status"]) == ("Resource Not Found", 404)
        assert {"type", "detail", "instance"} <= body.keys()

    async def test_patch_unsubscribes_and_changes_merge_fields(
        self, sandbox: Sandbox, mailchimp: httpx.AsyncClient
    ) -> None:
        """PATCH changes only what it names and is counted as one update."""
        path = member_path(MARIA.email)
        response = await mailchimp.patch(
            path, json={"status": "unsubscribed", "merge_fields": {"LNAME": "Muster-Beispiel"}}
        )
        assert response.status_code == 200
        member = response.json()
        assert member["status"] == "unsubscribed"
        assert member["merge_fields"]["FNAME"] == "Maria"
        assert member["merge_fields"]["LNAME"] == "Muster-Beispiel"
        subject = MARIA.mailchimp_subscriber_hash or ""
        assert sandbox.mailchimp.calls.effects("member_updated", subject) == 1

    async def test_put_adds_a_new_member_and_updates_an_existing_one(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        """PUT is add-or-update: ``status_if_new`` applies only to new members."""
        new = "neu.kunde@example.com"
        created = await mailchimp.put(
            member_path(new), json={"email_address": new, "status_if_new": "pending"}
        )
        updated = await mailchimp.put(
            member_path(MARIA.email),
            json={"email_address": MARIA.email, "status_if_new": "pending",
                  "merge_fields": {"FNAME": "Marie"}},
        )  # fmt: skip
        assert (created.status_code, created.json()["status"]) == (200, "pending")
        assert updated.json()["status"] == "subscribed"
        assert updated.json()["merge_fields"]["FNAME"] == "Marie"

    async def test_delete_archives_the_member(self, mailchimp: httpx.AsyncClient) -> None:
        """DELETE answers 204; the member is archived and leaves the default listing."""
        response = await mailchimp.delete(member_path(MARIA.email))
        assert response.status_code == 204
        assert (await mailchimp.get(member_path(MARIA.email))).json()["status"] == "archived"
        listing = await mailchimp.get(MEMBERS, params={"count": 1000})
        emails = {m["email_address"] for m in listing.json()["members"]}
        assert MARIA.email not in emails

    async def test_delete_permanent_erases_and_forbids_re_adding(
        self, sandbox: Sandbox, mailchimp: httpx.AsyncClient
    ) -> None:
        """After delete-permanent (204) the member is 404, a repeat is 404 and the address
        can no longer be added."""
        path = member_path(JONAS.email)
        erased = await mailchimp.post(f"{path}/actions/delete-permanent")
        assert (erased.status_code, erased.content) == (204, b"")
        assert (await mailchimp.get(path)).status_code == 404
        assert (await mailchimp.post(f"{path}/actions/delete-permanent")).status_code == 404
        again = await mailchimp.put(
            path, json={"email_address": JONAS.email, "status_if_new": "subscribed"}
        )
        assert again.status_code == 400
        assert again.json()["title"] == "Forgotten Email Not Subscribed"
        subject = JONAS.mailchimp_subscriber_hash or ""
        assert sandbox.mailchimp.calls.effects("member_deleted_permanently", subject) == 1

    async def test_offset_pages_cover_every_member_exactly_once(
        self, sandbox: Sandbox, mailchimp: httpx.AsyncClient
    ) -> None:
        """``count`` and ``offset`` walk all non-archived members; ``total_items`` agrees."""
        seen: list[str] = []
        offset, total = 0, None
        while total is None or offset < total:
            page = (await mailchimp.get(MEMBERS, params={"count": 7, "offset": offset})).json()
            total = page["total_items"]
            seen += [m["id"] for m in page["members"]]
            offset += 7
        expected = [m.id for m in sandbox.mailchimp.members.values() if m.status != "archived"]
        assert seen == expected
        assert total == len(expected)

    async def test_list_endpoint_describes_the_audience(self, mailchimp: httpx.AsyncClient) -> None:
        """GET /lists/{id} answers for the sandbox list and 404 for others."""
        ours = await mailchimp.get(f"/3.0/lists/{MAILCHIMP_LIST_ID}")
        other = await mailchimp.get("/3.0/lists/ffffffffff")
        assert ours.json()["id"] == MAILCHIMP_LIST_ID
        assert ours.json()["stats"]["member_count"] > 0
        assert other.status_code == 404


class TestConcurrency:
    async def test_requests_beyond_the_connection_cap_get_429(self, clock: FakeClock) -> None:
        """With a cap of 3 and slow answers, 5 simultaneous requests give 3 × 200 and 2 × 429."""
        box = Sandbox.create(
            customers=5,
            clock=clock,
            mailchimp_limits=MailchimpLimits(max_connections=3),
            faults={"mailchimp": FaultConfig(latency=0.05)},
        )
        async with client(box.mailchimp_app, "http://mc.test", auth=MAILCHIMP_AUTH) as c:
            responses = await asyncio.gather(*(c.get("/3.0/ping") for _ in range(5)))
            after = await c.get("/3.0/ping")
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 200, 200, 429, 429]
        refused = next(r for r in responses if r.status_code == 429)
        assert refused.json()["title"] == "Too Many Requests"
        assert after.status_code == 200
        assert box.mailchimp.calls.throttled == 2

    async def test_with_the_edge_throttle_a_refusal_is_a_403_without_a_body(
        self, sandbox: Sandbox
    ) -> None:
        """Mailchimp's edge network throttles high volume with a body-less 403; the emulator
        does the same for every refusal once ``bodyless_403_throttle`` is set."""
        sandbox.mailchimp.bodyless_403_throttle = True
        sandbox.injector("mailchimp").force_throttle(2)
        async with client(sandbox.mailchimp_app, "http://mc.test", auth=MAILCHIMP_AUTH) as c:
            refused = [await c.get("/3.0/ping") for _ in range(2)]
            after = await c.get("/3.0/ping")
        assert [(r.status_code, r.content) for r in refused] == [(403, b""), (403, b"")]
        assert after.status_code == 200
        assert sandbox.mailchimp.calls.throttled == 2

    async def test_without_the_edge_throttle_a_refusal_is_a_429_problem(
        self, sandbox: Sandbox
    ) -> None:
        sandbox.injector("mailchimp").force_throttle(1)
        async with client(sandbox.mailchimp_app, "http://mc.test", auth=MAILCHIMP_AUTH) as c:
            refused = await c.get("/3.0/ping")
        assert refused.status_code == 429
        assert refused.json()["title"] == "Too Many Requests"


class TestAudiences:
    async def test_lists_names_every_audience_and_email_keeps_the_persons_own(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        """GET /lists shows both audiences; ``email`` keeps those the address belongs to."""
        every = await mailchimp.get("/3.0/lists", params={"fields": "lists.id,total_items"})
        maria = await mailchimp.get("/3.0/lists", params={"email": MARIA.email})
        jonas = await mailchimp.get("/3.0/lists", params={"email": JONAS.email.upper()})
        assert every.json() == {
            "lists": [{"id": MAILCHIMP_LIST_ID}, {"id": EVENTS}],
            "total_items": 2,
        }
        assert [a["id"] for a in maria.json()["lists"]] == [MAILCHIMP_LIST_ID]
        assert [a["id"] for a in jonas.json()["lists"]] == [MAILCHIMP_LIST_ID, EVENTS]

    async def test_each_membership_is_its_own_record(self, mailchimp: httpx.AsyncClient) -> None:
        """Jonas's events membership is read under its own list id, with its own data."""
        news = (await mailchimp.get(member_path(JONAS.email))).json()
        events = (await mailchimp.get(member_path(JONAS.email, EVENTS))).json()
        assert (news["list_id"], events["list_id"]) == (MAILCHIMP_LIST_ID, EVENTS)
        assert news["id"] == events["id"] == JONAS.mailchimp_subscriber_hash
        assert events["source"] == "Event registration"
        assert (await mailchimp.get(member_path(MARIA.email, EVENTS))).status_code == 404

    async def test_deleting_one_membership_leaves_the_other(
        self, sandbox: Sandbox, mailchimp: httpx.AsyncClient
    ) -> None:
        erased = await mailchimp.post(
            f"{member_path(JONAS.email, EVENTS)}/actions/delete-permanent"
        )
        assert erased.status_code == 204
        assert (await mailchimp.get(member_path(JONAS.email, EVENTS))).status_code == 404
        assert (await mailchimp.get(member_path(JONAS.email))).status_code == 200
        assert [i for i, _ in sandbox.mailchimp.memberships(JONAS.email)] == [MAILCHIMP_LIST_ID]

    async def test_an_unknown_audience_is_a_404_problem(self, mailchimp: httpx.AsyncClient) -> None:
        for path in (member_path(JONAS.email, "ffffffffff"), "/3.0/lists/ffffffffff/members"):
            response = await mailchimp.get(path)
            assert response.status_code == 404
            assert response.json()["title"] == "Resource Not Found"


class TestSearch:
    async def test_an_address_finds_every_membership_with_its_list_id(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        """search-members looks through every audience; each exact match names its list."""
        response = await mailchimp.get("/3.0/search-members", params={"query": JONAS.email})
        exact = response.json()["exact_matches"]
        assert exact["total_items"] == 2
        assert [(m["list_id"], m["id"]) for m in exact["members"]] == [
            (MAILCHIMP_LIST_ID, JONAS.mailchimp_subscriber_hash),
            (EVENTS, JONAS.mailchimp_subscriber_hash),
        ]
        assert response.json()["full_search"]["members"] == []

    async def test_list_id_keeps_the_search_to_one_audience(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        params = {"query": JONAS.email, "list_id": EVENTS}
        exact = (await mailchimp.get("/3.0/search-members", params=params)).json()["exact_matches"]
        assert [m["list_id"] for m in exact["members"]] == [EVENTS]
        params["list_id"] = "ffffffffff"
        assert (await mailchimp.get("/3.0/search-members", params=params)).status_code == 404

    async def test_a_name_matches_exactly_and_part_of_an_address_only_partially(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        by_name = await mailchimp.get("/3.0/search-members", params={"query": "maria muster"})
        part = await mailchimp.get("/3.0/search-members", params={"query": "maria.muster@"})
        exact_ids = {m["id"] for m in by_name.json()["exact_matches"]["members"]}
        assert MARIA.mailchimp_subscriber_hash in exact_ids
        assert part.json()["exact_matches"]["members"] == []
        partial_ids = {m["id"] for m in part.json()["full_search"]["members"]}
        assert partial_ids == {MARIA.mailchimp_subscriber_hash}

    async def test_exclude_fields_reaches_into_every_match(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        """Dotted paths step through the list of matches, as Mailchimp's do."""
        params = {
            "query": JONAS.email,
            "exclude_fields": "full_search,_links,exact_matches.members._links",
        }
        body = (await mailchimp.get("/3.0/search-members", params=params)).json()
        assert set(body) == {"exact_matches"}
        assert all("_links" not in m and "list_id" in m for m in body["exact_matches"]["members"])
