"""Mailchimp connector: member hash, merge fields, permanent deletion, unsubscribe (respx)."""

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
from connectors.mailchimp import MailchimpConnector, data_centre_url, subscriber_hash
from connectors.ratelimit import Unlimited

pytestmark = pytest.mark.anyio

BASE = "https://us21.api.mailchimp.test"
KEY = "0123456789abcdef0123456789abcdef-us21"
LIST = "a1b2c3d4e5"
EMAIL = "Jonas.Beispiel@Example.com"
HASH = "2ac1f493093ecb8e4c65819d63dfd93d"  # md5("jonas.beispiel@example.com")
MEMBER_URL = f"{BASE}/3.0/lists/{LIST}/members/{HASH}"
SUBJECT = Subject(emails=(EMAIL,))


def member(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": HASH,
        "email_address": EMAIL.lower(),
        "status": "subscribed",
        "merge_fields": {"FNAME": "Jonas", "LNAME": "Beispiel", "PHONE": ""},
        "ip_signup": "203.0.113.9",
        "timestamp_opt": "2025-05-01T10:00:00+00:00",
        "list_id": LIST,
        "_links": [{"rel": "self", "href": "..."}],
    }
    data.update(overrides)
    return data


@pytest.fixture
def mailchimp(transport: httpx.AsyncBaseTransport, policy: RetryPolicy) -> MailchimpConnector:
    return MailchimpConnector(BASE, KEY, LIST, transport=transport, rate=Unlimited(), retry=policy)


def member_returns(router: respx.Router, data: dict[str, Any] | None) -> respx.Route:
    response = (
        httpx.Response(200, json=data)
        if data
        else httpx.Response(404, json={"title": "Resource Not Found"})
    )
    return router.get(MEMBER_URL).mock(return_value=response)


class TestDataCentre:
    def test_the_address_comes_from_the_keys_suffix(self) -> None:
        assert data_centre_url(KEY) == "https://us21.api.mailchimp.com"

    async def test_without_a_url_the_connector_calls_the_keys_data_centre(
        self, router: respx.Router, transport: httpx.AsyncBaseTransport, policy: RetryPolicy
    ) -> None:
        url = f"https://us21.api.mailchimp.com/3.0/lists/{LIST}/members/{HASH}"
        route = router.get(url).mock(return_value=httpx.Response(200, json=member()))
        connector = MailchimpConnector("", KEY, LIST, transport=transport, rate=Unlimited())
        async with connector:
            assert (await connector.locate(SUBJECT)).found
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

    def test_a_key_without_a_data_centre_is_refused_with_what_to_do(self) -> None:
        with pytest.raises(AuthError, match="DSAR_MAILCHIMP_URL"):
            MailchimpConnector(None, "0123456789abcdef0123456789abcdef", LIST)


class TestSubscriberHash:
    def test_is_md5_of_the_lower_cased_address(self) -> None:
        """Letter case never changes the member id."""
        assert subscriber_hash(EMAIL) == subscriber_hash(EMAIL.upper()) == HASH


class TestLocate:
    async def test_gets_member_by_hash_with_basic_auth(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """GET /3.0/lists/{list}/members/{md5} authenticated with the key as password."""
        route = member_returns(router, member())
        located = await mailchimp.locate(SUBJECT)
        assert located.refs == (f"member:{HASH}",)
        auth = route.calls.last.request.headers["Authorization"]
        assert base64.b64decode(auth.removeprefix("Basic ")).decode().endswith(f":{KEY}")

    async def test_404_is_not_found(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """A member that does not exist answers 404: not found, no error."""
        member_returns(router, None)
        assert not (await mailchimp.locate(SUBJECT)).found


class TestExport:
    async def test_exports_member_without_links(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """The member record is exported whole, minus Mailchimp's hypermedia links."""
        member_returns(router, member())
        (record,) = (await mailchimp.export(SUBJECT)).records
        assert record.category == "newsletter_subscription"
        assert record.data["ip_signup"] == "203.0.113.9"
        assert "_links" not in record.data


class TestRectify:
    async def test_patches_merge_fields_and_email(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """Names and phone go to merge fields; a new address goes to email_address."""
        member_returns(router, member())
        patch = router.patch(MEMBER_URL).mock(return_value=httpx.Response(200, json=member()))
        outcome = await mailchimp.rectify(
            SUBJECT,
            {
                "last_name": "Beispiel-Neu",
                "first_name": "Jonas",
                "phone": "+4930123",
                "email": "j@b.example",
            },
        )
        assert json.loads(patch.calls.last.request.content) == {
            "email_address": "j@b.example",
            "merge_fields": {"LNAME": "Beispiel-Neu", "PHONE": "+4930123"},
        }
        assert outcome.count == 1
        assert "j@b.example" not in outcome.note

    async def test_repeat_sends_nothing(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """Merge fields already right are not written again."""
        member_returns(router, member())
        patch = router.patch(MEMBER_URL)
        outcome = await mailchimp.rectify(SUBJECT, {"first_name": "Jonas"})
        assert patch.call_count == 0
        assert outcome.count == 0

    async def test_address_is_corrected_only_where_one_is_on_file(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """An existing ADDRESS is updated in full; a member without one gets no partial one."""
        address = {
            "addr1": "Hauptstr. 1",
            "city": "Berlin",
            "state": "",
            "zip": "10115",
            "country": "DE",
        }
        member_returns(router, member(merge_fields={"FNAME": "Jonas", "ADDRESS": address}))
        patch = router.patch(MEMBER_URL).mock(return_value=httpx.Response(200, json=member()))
        await mailchimp.rectify(SUBJECT, {"city": "Potsdam"})
        assert json.loads(patch.calls.last.request.content) == {
            "merge_fields": {"ADDRESS": {**address, "city": "Potsdam"}}
        }
        member_returns(router, member())
        outcome = await mailchimp.rectify(SUBJECT, {"city": "Potsdam"})
        assert patch.call_count == 1
        assert outcome.count == 0
        assert "no address" in outcome.note

    async def test_company_is_unsupported(self, mailchimp: MailchimpConnector) -> None:
        """A list without a company field refuses it rather than dropping it."""
        with pytest.raises(Unsupported):
            await mailchimp.rectify(SUBJECT, {"company": "ACME"})


class TestErase:
    async def test_posts_delete_permanent(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """Erase is POST .../actions/delete-permanent, synchronous: complete with count 1."""
        member_returns(router, member())
        route = router.post(f"{MEMBER_URL}/actions/delete-permanent").mock(
            return_value=httpx.Response(204)
        )
        outcome = await mailchimp.erase(SUBJECT)
        assert route.call_count == 1
        assert (outcome.complete, outcome.count, outcome.job_ref) == (True, 1, None)

    async def test_already_gone_is_complete_with_note(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """A member that is not there is erased already: no write, complete, count 0, a note."""
        member_returns(router, None)
        post = router.post(f"{MEMBER_URL}/actions/delete-permanent")
        outcome = await mailchimp.erase(SUBJECT)
        assert post.call_count == 0
        assert (outcome.complete, outcome.count) == (True, 0)
        assert "nothing to erase" in outcome.note

    async def test_vanished_between_lookup_and_delete_is_complete(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """A 404 from delete-permanent (deleted meanwhile) counts as done."""
        member_returns(router, member())
        router.post(f"{MEMBER_URL}/actions/delete-permanent").mock(
            return_value=httpx.Response(404, json={"title": "Resource Not Found"})
        )
        outcome = await mailchimp.erase(SUBJECT)
        assert (outcome.complete, outcome.count) == (True, 0)

    async def test_5xx_retried_then_transient(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """delete-permanent is repeatable, so 503s are retried up to the bound."""
        member_returns(router, member())
        route = router.post(f"{MEMBER_URL}/actions/delete-permanent").mock(
            return_value=httpx.Response(503)
        )
        with pytest.raises(TransientError):
            await mailchimp.erase(SUBJECT)
        assert route.call_count == RetryPolicy().max_attempts


class TestRestriction:
    async def test_restrict_unsubscribes(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """A subscribed member is PATCHed to status unsubscribed."""
        member_returns(router, member())
        patch = router.patch(MEMBER_URL).mock(
            return_value=httpx.Response(200, json=member(status="unsubscribed"))
        )
        outcome = await mailchimp.restrict(SUBJECT)
        assert json.loads(patch.calls.last.request.content) == {"status": "unsubscribed"}
        assert (outcome.complete, outcome.count) == (True, 1)

    async def test_restrict_twice_sends_nothing(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """An unsubscribed member is left alone."""
        member_returns(router, member(status="unsubscribed"))
        patch = router.patch(MEMBER_URL)
        assert (await mailchimp.restrict(SUBJECT)).count == 0
        assert patch.call_count == 0

    async def test_lift_never_resubscribes(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """Lifting writes nothing to Mailchimp: re-subscribing needs fresh consent."""
        member_returns(router, member(status="unsubscribed"))
        patch = router.patch(MEMBER_URL)
        post = router.post(url__startswith=BASE)
        outcome = await mailchimp.lift_restriction(SUBJECT)
        assert patch.call_count == post.call_count == 0
        assert outcome.complete
        assert outcome.action is Capability.LIFT_RESTRICTION
        assert "consent" in outcome.note

    async def test_status_is_unsupported(self, mailchimp: MailchimpConnector) -> None:
        """Mailchimp has no asynchronous jobs, and says so in its capabilities."""
        assert Capability.STATUS not in mailchimp.capabilities
        with pytest.raises(Unsupported):
            await mailchimp.status("mailchimp:anything")


class TestErrors:
    async def test_401_is_auth_error(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """A problem+json 401 becomes AuthError with Mailchimp's title, not the key."""
        router.get(MEMBER_URL).mock(
            return_value=httpx.Response(
                401, json={"title": "API Key Invalid", "detail": "Your API key may be invalid"}
            )
        )
        with pytest.raises(AuthError, match="API Key Invalid") as info:
            await mailchimp.locate(SUBJECT)
        assert KEY not in str(info.value)

    async def test_a_403_without_a_body_is_a_throttle_and_is_retried(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """Mailchimp throttles at high volume with a body-less 403: wait and ask again."""
        route = router.get(MEMBER_URL).mock(
            side_effect=[
                httpx.Response(403, content=b"", headers={"Retry-After": "0"}),
                httpx.Response(
                    403, text="<html>Access Denied</html>", headers={"Content-Type": "text/html"}
                ),
                httpx.Response(200, json=member()),
            ]
        )
        located = await mailchimp.locate(SUBJECT)
        assert located.found
        assert route.call_count == 3

    async def test_a_403_with_a_problem_document_is_a_permission_error(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """A 403 that explains itself is the key lacking a permission: not retried."""
        route = router.get(MEMBER_URL).mock(
            return_value=httpx.Response(
                403,
                json={
                    "type": "https://mailchimp.com/developer/marketing/docs/errors/",
                    "title": "Forbidden",
                    "status": 403,
                    "detail": "You don't have permission to access this resource",
                    "instance": "0b7f6a9c",
                },
                headers={"Content-Type": "application/problem+json"},
            )
        )
        with pytest.raises(AuthError, match="Forbidden"):
            await mailchimp.locate(SUBJECT)
        assert route.call_count == 1

    async def test_404_body_with_email_is_scrubbed(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """An error detail echoing the address never reaches the message."""
        router.patch(MEMBER_URL).mock(
            return_value=httpx.Response(
                400, json={"title": "Member Exists", "detail": f"{EMAIL} is already a list member"}
            )
        )
        member_returns(router, member())
        with pytest.raises(PermanentError, match="Member Exists") as info:
            await mailchimp.rectify(SUBJECT, {"email": "other@example.com"})
        assert EMAIL.lower() not in str(info.value).lower()

    async def test_malformed_json_is_protocol_error(
        self, router: respx.Router, mailchimp: MailchimpConnector
    ) -> None:
        """A member body that does not parse raises ProtocolError."""
        router.get(MEMBER_URL).mock(return_value=httpx.Response(200, content=b'{"email_address": '))
        with pytest.raises(ProtocolError):
            await mailchimp.locate(SUBJECT)
