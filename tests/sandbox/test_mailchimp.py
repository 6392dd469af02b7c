"""Contract tests of the Mailchimp emulator against processor-apis.md."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import pytest

from sandbox import JONAS, MAILCHIMP_LIST_ID, MARIA, FaultConfig, MailchimpLimits, Sandbox
from tests.sandbox.conftest import MAILCHIMP_AUTH, FakeClock, client

pytestmark = pytest.mark.anyio

MEMBERS = f"/3.0/lists/{MAILCHIMP_LIST_ID}/members"


def member_path(email: str) -> str:
    digest = hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()
    return f"{MEMBERS}/{digest}"


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
