"""Mailchimp connector: the account-wide search, every membership acted on, errors (respx)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
import respx

from connectors.base import Capability, Subject
from connectors.errors import AuthError, PermanentError, ProtocolError, TransientError, Unsupported
from connectors.http import RetryPolicy
from connectors.mailchimp import (
    SEARCH_EXCLUDES,
    MailchimpConnector,
    data_centre_url,
    subscriber_hash,
)
from connectors.ratelimit import Unlimited
from tests.connectors.fakes import FakeTime

pytestmark = pytest.mark.anyio

BASE = "https://us21.api.mailchimp.test"
KEY = "0123456789abcdef0123456789abcdef-us21"
NEWS, EVENTS = "a1b2c3d4e5", "f6e5d4c3b2"
EMAIL = "Jonas.Beispiel@Example.com"
HASH = "2ac1f493093ecb8e4c65819d63dfd93d"  # md5("jonas.beispiel@example.com")
SEARCH = f"{BASE}/3.0/search-members"
SUBJECT = Subject(emails=(EMAIL,))


def url(list_id: str) -> str:
    return f"{BASE}/3.0/lists/{list_id}/members/{HASH}"


def member(list_id: str = NEWS, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": HASH,
        "email_address": EMAIL.lower(),
        "status": "subscribed",
        "merge_fields": {"FNAME": "Jonas", "LNAME": "Beispiel", "PHONE": ""},
        "ip_signup": "203.0.113.9",
        "timestamp_opt": "2025-05-01T10:00:00+00:00",
        "list_id": list_id,
        "_links": [{"rel": "self", "href": "..."}],
    }
    data.update(overrides)
    return data


def found(*members: dict[str, Any], total: int | None = None) -> httpx.Response:
    """A search-members answer whose exact matches are ``members``."""
    exact = {"members": list(members), "total_items": len(members) if total is None else total}
    return httpx.Response(200, json={"exact_matches": exact})


@pytest.fixture
def mailchimp(transport: httpx.AsyncBaseTransport, policy: RetryPolicy) -> MailchimpConnector:
    return MailchimpConnector(BASE, KEY, transport=transport, rate=Unlimited(), retry=policy)


def search_returns(router: respx.Router, *members: dict[str, Any]) -> respx.Route:
    return router.get(SEARCH).mock(return_value=found(*members))


class TestDataCentre:
    def test_the_address_comes_from_the_keys_suffix(self) -> None:
        assert data_centre_url(KEY) == "https://us21.api.mailchimp.com"

    @pytest.mark.parametrize("configured", ["", None])
    async def test_without_a_url_the_connector_calls_the_keys_data_centre(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, configured: str | None
    ) -> None:
        route = router.get("https://us21.api.mailchimp.com/3.0/search-members").mock(
            return_value=found(member())
        )
        connector = MailchimpConnector(configured, KEY, transport=transport, rate=Unlimited())
        async with connector:
            assert (await connector.locate(SUBJECT)).found
        assert route.called

    async def test_a_configured_url_wins_over_the_key(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport
    ) -> None:
        """The sandbox is reached at its own address whatever data centre the key names."""
        route = router.get("http://127.0.0.1:8603/3.0/search-members").mock(return_value=found())
        connector = MailchimpConnector(
            "http://127.0.0.1:8603/", KEY, transport=transport, rate=Unlimited()
        )
        async with connector:
            assert not (await connector.locate(SUBJECT)).found
        assert route.called

    def test_in_production_an_unset_url_means_the_keys_data_centre(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The sandbox's address is a development default, never a production one."""
        from dsar.settings import Settings

        monkeypatch.setenv("DSAR_ENVIRONMENT", "production")
        monkeypatch.setenv("DSAR_WEBHOOK_SECRET", "a-real-secret")
        monkeypatch.delenv("DSAR_MAILCHIMP_URL", raising=False)
        assert Settings(_env_file=None).mailchimp_url == ""
        monkeypatch.setenv("DSAR_MAILCHIMP_URL", "https://us9.api.mailchimp.com")
        assert Settings(_env_file=None).mailchimp_url == "https://us9.api.mailchimp.com"

    def test_a_configured_list_id_is_still_accepted(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Deployments that set DSAR_MAILCHIMP_LIST_ID keep working; the connector needs none."""
        from dsar.settings import Settings

        monkeypatch.setenv("DSAR_MAILCHIMP_LIST_ID", "0123abcdef")
        assert Settings(_env_file=None).mailchimp_list_id == "0123abcdef"

    def test_a_key_without_a_data_centre_is_refused_with_what_to_do(self) -> None:
        with pytest.raises(AuthError, match="DSAR_MAILCHIMP_URL"):
            MailchimpConnector(None, "0123456789abcdef0123456789abcdef")


class TestSubscriberHash:
    def test_is_md5_of_the_lower_cased_address(self) -> None:
        """Letter case never changes the member id."""
        assert subscriber_hash(EMAIL) == subscriber_hash(EMAIL.upper()) == HASH


class TestLocate:
    async def test_searches_every_audience_for_exact_matches_with_basic_auth(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """One GET /3.0/search-members per address, no list_id, full-text part excluded."""
        route = search_returns(router, member())
        located = await mailchimp.locate(SUBJECT)
        assert located.refs == (f"member:{NEWS}/{HASH}",)
        request = route.calls.last.request
        assert dict(request.url.params) == {"query": EMAIL, "exclude_fields": SEARCH_EXCLUDES}
        assert "full_search" in SEARCH_EXCLUDES.split(",")
        auth = request.headers["Authorization"]
        assert base64.b64decode(auth.removeprefix("Basic ")).decode().endswith(f":{KEY}")

    async def test_a_person_in_two_audiences_is_found_in_both(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        search_returns(router, member(NEWS), member(EVENTS, status="unsubscribed"))
        located = await mailchimp.locate(SUBJECT)
        assert located.refs == (f"member:{NEWS}/{HASH}", f"member:{EVENTS}/{HASH}")

    async def test_no_exact_match_is_not_found(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        search_returns(router)
        assert not (await mailchimp.locate(SUBJECT)).found

    async def test_a_match_for_another_address_is_never_acted_on(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """Only members whose address is the person's count, whatever the search returns."""
        search_returns(router, member(email_address="jonas.beispiel@other.example"))
        post = router.post(url__startswith=BASE)
        outcome = await mailchimp.erase(SUBJECT)
        assert (outcome.count, post.call_count) == (0, 0)

    async def test_each_address_is_searched_and_each_membership_kept_once(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        other = "j.b@example.net"
        other_member = member(EVENTS, email_address=other, id=subscriber_hash(other))
        route = router.get(SEARCH).mock(
            side_effect=lambda request: found(
                *(
                    [other_member]
                    if request.url.params["query"] == other
                    else [member(NEWS), member(NEWS)]
                )
            )
        )
        located = await mailchimp.locate(Subject(emails=(EMAIL, other)))
        assert route.call_count == 2
        assert located.refs == (
            f"member:{NEWS}/{HASH}",
            f"member:{EVENTS}/{subscriber_hash(other)}",
        )

    async def test_a_search_that_holds_back_matches_is_an_error(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """The search cannot page: acting on part of the memberships would be a partial erasure
        reported as complete, so it fails instead."""
        router.get(SEARCH).mock(return_value=found(member(), total=3))
        with pytest.raises(ProtocolError, match="1 of 3"):
            await mailchimp.erase(SUBJECT)

    @pytest.mark.parametrize(
        "body",
        [{}, {"exact_matches": {"members": "none"}}, {"exact_matches": {"members": [{"id": 1}]}}],
    )
    async def test_an_answer_without_usable_matches_is_a_protocol_error(
        self, router: respx.Router, mailchimp: MailchimpConnector, body: dict[str, Any]
    ) -> None:
        router.get(SEARCH).mock(return_value=httpx.Response(200, json=body))
        with pytest.raises(ProtocolError):
            await mailchimp.locate(SUBJECT)


class TestExport:
    async def test_exports_each_membership_without_links(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """One record per audience, naming it; Mailchimp's hypermedia links are left out."""
        search_returns(router, member(NEWS), member(EVENTS, status="unsubscribed"))
        records = (await mailchimp.export(SUBJECT)).records
        assert [r.category for r in records] == ["newsletter_subscription"] * 2
        assert [r.data["list_id"] for r in records] == [NEWS, EVENTS]
        assert records[0].data["ip_signup"] == "203.0.113.9"
        assert all("_links" not in r.data for r in records)


class TestRectify:
    async def test_patches_merge_fields_and_email_in_every_audience(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """Names and phone go to merge fields; a new address goes to email_address."""
        search_returns(router, member(NEWS), member(EVENTS))
        patches = [
            router.patch(url(list_id)).mock(return_value=httpx.Response(200, json=member()))
            for list_id in (NEWS, EVENTS)
        ]
        outcome = await mailchimp.rectify(
            SUBJECT,
            {"last_name": "Beispiel-Neu", "first_name": "Jonas", "phone": "+4930123",
             "email": "j@b.example"},
        )  # fmt: skip
        for patch in patches:
            assert json.loads(patch.calls.last.request.content) == {
                "email_address": "j@b.example",
                "merge_fields": {"LNAME": "Beispiel-Neu", "PHONE": "+4930123"},
            }
        assert outcome.count == 2
        assert "j@b.example" not in outcome.note

    async def test_repeat_sends_nothing(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """Merge fields already right are not written again."""
        search_returns(router, member())
        patch = router.patch(url__startswith=BASE)
        outcome = await mailchimp.rectify(SUBJECT, {"first_name": "Jonas"})
        assert patch.call_count == 0
        assert outcome.count == 0

    async def test_address_is_corrected_only_where_one_is_on_file(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """An existing ADDRESS is updated in full; a member without one gets no partial one."""
        address = {"addr1": "Hauptstr. 1", "city": "Berlin", "state": "", "zip": "10115",
                   "country": "DE"}  # fmt: skip
        with_address = member(NEWS, merge_fields={"FNAME": "Jonas", "ADDRESS": address})
        search_returns(router, with_address, member(EVENTS))
        patch = router.patch(url(NEWS)).mock(return_value=httpx.Response(200, json=member()))
        other = router.patch(url(EVENTS))
        outcome = await mailchimp.rectify(SUBJECT, {"city": "Potsdam"})
        assert json.loads(patch.calls.last.request.content) == {
            "merge_fields": {"ADDRESS": {**address, "city": "Potsdam"}}
        }
        assert other.call_count == 0
        assert outcome.count == 1
        assert "1 member(s) have no address" in outcome.note

    async def test_company_is_unsupported(self, mailchimp: MailchimpConnector) -> None:
        """A list without a company field refuses it rather than dropping it."""
        with pytest.raises(Unsupported):
            await mailchimp.rectify(SUBJECT, {"company": "ACME"})


class TestErase:
    async def test_a_person_in_two_audiences_is_deleted_permanently_from_both(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """Erase is POST .../actions/delete-permanent on each membership, synchronous."""
        search_returns(router, member(NEWS), member(EVENTS, status="archived"))
        posts = [
            router.post(f"{url(list_id)}/actions/delete-permanent").mock(
                return_value=httpx.Response(204)
            )
            for list_id in (NEWS, EVENTS)
        ]
        outcome = await mailchimp.erase(SUBJECT)
        assert [p.call_count for p in posts] == [1, 1]
        assert (outcome.complete, outcome.count, outcome.job_ref) == (True, 2, None)
        assert outcome.refs == (f"member:{NEWS}/{HASH}", f"member:{EVENTS}/{HASH}")
        assert "2 audience(s)" in outcome.note

    async def test_already_gone_is_complete_with_note(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """A member that is not there is erased already: no write, complete, count 0, a note."""
        search_returns(router)
        post = router.post(url__startswith=BASE)
        outcome = await mailchimp.erase(SUBJECT)
        assert post.call_count == 0
        assert (outcome.complete, outcome.count) == (True, 0)
        assert "nothing to erase" in outcome.note

    async def test_vanished_between_search_and_delete_is_complete(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """A 404 from delete-permanent (deleted meanwhile) counts as done."""
        search_returns(router, member())
        router.post(f"{url(NEWS)}/actions/delete-permanent").mock(
            return_value=httpx.Response(404, json={"title": "Resource Not Found"})
        )
        outcome = await mailchimp.erase(SUBJECT)
        assert (outcome.complete, outcome.count) == (True, 0)

    async def test_5xx_retried_then_transient(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """delete-permanent is repeatable, so 503s are retried up to the bound."""
        search_returns(router, member())
        route = router.post(f"{url(NEWS)}/actions/delete-permanent").mock(
            return_value=httpx.Response(503)
        )
        with pytest.raises(TransientError):
            await mailchimp.erase(SUBJECT)
        assert route.call_count == RetryPolicy().max_attempts


class TestRestriction:
    async def test_restrict_unsubscribes_every_mailable_membership(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """Subscribed and pending members are PATCHed to unsubscribed; others left alone."""
        search_returns(router, member(NEWS), member(EVENTS, status="pending"))
        patches = [
            router.patch(url(list_id)).mock(return_value=httpx.Response(200, json=member()))
            for list_id in (NEWS, EVENTS)
        ]
        outcome = await mailchimp.restrict(SUBJECT)
        for patch in patches:
            assert json.loads(patch.calls.last.request.content) == {"status": "unsubscribed"}
        assert (outcome.complete, outcome.count) == (True, 2)

    async def test_restrict_twice_sends_nothing(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """Unsubscribed, cleaned and archived members are left alone."""
        statuses = ("unsubscribed", "cleaned", "archived")
        search_returns(router, *(member(f"list{i}", status=s) for i, s in enumerate(statuses)))
        patch = router.patch(url__startswith=BASE)
        assert (await mailchimp.restrict(SUBJECT)).count == 0
        assert patch.call_count == 0

    async def test_lift_never_resubscribes(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """Lifting writes nothing to Mailchimp: re-subscribing needs fresh consent."""
        search_returns(router, member(status="unsubscribed"))
        patch = router.patch(url__startswith=BASE)
        post = router.post(url__startswith=BASE)
        outcome = await mailchimp.lift_restriction(SUBJECT)
        assert patch.call_count == post.call_count == 0
        assert outcome.complete
        assert outcome.action is Capability.LIFT_RESTRICTION
        assert outcome.refs == (f"member:{NEWS}/{HASH}",)
        assert "consent" in outcome.note

    async def test_status_is_unsupported(self, mailchimp: MailchimpConnector) -> None:
        """Mailchimp has no asynchronous jobs, and says so in its capabilities."""
        assert Capability.STATUS not in mailchimp.capabilities
        with pytest.raises(Unsupported):
            await mailchimp.status("mailchimp:anything")


PROBLEM_403 = {
    "type": "https://mailchimp.com/developer/marketing/docs/errors/",
    "title": "Forbidden",
    "status": 403,
    "detail": "You don't have permission to access this resource",
    "instance": "0b7f6a9c",
}


class TestErrors:
    async def test_401_is_auth_error(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """A problem+json 401 becomes AuthError with Mailchimp's title, not the key."""
        router.get(SEARCH).mock(
            return_value=httpx.Response(
                401, json={"title": "API Key Invalid", "detail": "Your API key may be invalid"}
            )
        )
        with pytest.raises(AuthError, match="API Key Invalid") as info:
            await mailchimp.locate(SUBJECT)
        assert KEY not in str(info.value)

    async def test_a_403_without_a_body_is_a_throttle_retried_with_backoff(
        self, router: respx.Router, mailchimp: MailchimpConnector, fake_time: FakeTime
    ) -> None:
        """Mailchimp throttles at high volume with a 403 that has no JSON body (empty, or an
        edge network's HTML page): wait, with back-off, and ask again."""
        route = router.get(SEARCH).mock(
            side_effect=[
                httpx.Response(403, content=b""),
                httpx.Response(
                    403, text="<html>Access Denied</html>", headers={"Content-Type": "text/html"}
                ),
                found(member()),
            ]
        )
        located = await mailchimp.locate(SUBJECT)
        assert located.found
        assert route.call_count == 3
        assert len(fake_time.sleeps) == 2

    async def test_a_throttle_that_never_ends_gives_up_at_the_bound(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        route = router.get(SEARCH).mock(return_value=httpx.Response(403))
        with pytest.raises(TransientError, match="throttled"):
            await mailchimp.locate(SUBJECT)
        assert route.call_count == RetryPolicy().max_attempts

    async def test_a_403_with_a_problem_document_is_a_permission_error(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """A 403 that explains itself is the key lacking a permission: not retried."""
        route = router.get(SEARCH).mock(
            return_value=httpx.Response(
                403, json=PROBLEM_403, headers={"Content-Type": "application/problem+json"}
            )
        )
        with pytest.raises(AuthError, match="Forbidden"):
            await mailchimp.locate(SUBJECT)
        assert route.call_count == 1

    async def test_error_body_with_email_is_scrubbed(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """An error detail echoing the address never reaches the message."""
        search_returns(router, member())
        router.patch(url(NEWS)).mock(
            return_value=httpx.Response(
                400, json={"title": "Member Exists", "detail": f"{EMAIL} is already a list member"}
            )
        )
        with pytest.raises(PermanentError, match="Member Exists") as info:
            await mailchimp.rectify(SUBJECT, {"email": "other@example.com"})
        assert EMAIL.lower() not in str(info.value).lower()

    async def test_malformed_json_is_protocol_error(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """A search body that does not parse raises ProtocolError."""
        router.get(SEARCH).mock(return_value=httpx.Response(200, content=b'{"exact_matches": '))
        with pytest.raises(ProtocolError):
            await mailchimp.locate(SUBJECT)
