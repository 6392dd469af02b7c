"""Klaviyo connector: JSON:API request shapes, pagination, deletion jobs, suppression (respx)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
import pytest
import respx
import structlog.testing

from connectors.base import Subject
from connectors.errors import AuthError, ProtocolError, TransientError, ValidationFailed
from connectors.http import RetryPolicy
from connectors.klaviyo import JSONAPI, KlaviyoConnector
from connectors.klaviyo_values import e164
from connectors.ratelimit import Unlimited
from connectors.versions import UnsupportedVersion
from tests.connectors.fakes import FakeTime

pytestmark = pytest.mark.anyio

BASE = "https://a.klaviyo.test"
KEY = "pk_unit_test_key"
EMAIL = "maria.muster@example.com"
SUBJECT = Subject(emails=(EMAIL,))
PID = "01HZPROFILE0000000000000001"


def profile(suppressed: bool | None = False, **attrs: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "email": EMAIL,
        "phone_number": "+4917012345678",
        "first_name": "Maria",
        "last_name": "Muster",
        "location": {"city": "Berlin", "zip": "10115", "country": "DE"},
    }
    if suppressed is not None:
        suppression = (
            [{"reason": "USER_SUPPRESSED", "timestamp": "2026-01-01T00:00:00Z"}]
            if suppressed
            else []
        )
        attributes["subscriptions"] = {"email": {"marketing": {"suppression": suppression}}}
    attributes.update(attrs)
    return {"type": "profile", "id": PID, "attributes": attributes}


@pytest.fixture
def klaviyo(transport: httpx.AsyncBaseTransport, policy: RetryPolicy) -> KlaviyoConnector:
    return KlaviyoConnector(BASE, KEY, transport=transport, rate=Unlimited(), retry=policy)


def profiles_return(router: respx.Router, *items: dict[str, Any]) -> respx.Route:
    return router.get(f"{BASE}/api/profiles").mock(
        return_value=httpx.Response(200, json={"data": list(items), "links": {"next": None}})
    )


def body_of(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


class TestLocate:
    async def test_filters_profiles_by_email_with_jsonapi_headers(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """GET /api/profiles?filter=equals(email,"...") with key, revision and JSON:API accept."""
        route = profiles_return(router, profile())
        located = await klaviyo.locate(SUBJECT)
        assert located.refs == (f"profile:{PID}",)
        request = route.calls.last.request
        assert request.url.params["filter"] == f'equals(email,"{EMAIL}")'
        assert request.headers["Authorization"] == f"Klaviyo-API-Key {KEY}"
        assert request.headers["revision"] == "2026-07-15"
        assert request.headers["Accept"] == JSONAPI

    async def test_falls_back_to_lower_case(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """A mixed-case address that finds nothing is retried lower-cased."""
        mixed = "Jonas.Beispiel@Example.com"
        route = router.get(f"{BASE}/api/profiles").mock(
            side_effect=[
                httpx.Response(200, json={"data": [], "links": {}}),
                httpx.Response(200, json={"data": [profile(email=mixed.lower())], "links": {}}),
            ]
        )
        located = await klaviyo.locate(Subject(emails=(mixed,)))
        assert located.found
        assert route.calls[1].request.url.params["filter"] == f'equals(email,"{mixed.lower()}")'

    async def test_nobody_is_not_found(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """An empty data list means no profile."""
        profiles_return(router)
        assert not (await klaviyo.locate(SUBJECT)).found

    async def test_quotes_are_never_spliced_into_a_filter(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """An identity containing a quote cannot break out of the filter expression."""
        route = profiles_return(router)
        assert not (await klaviyo.locate(Subject(emails=('x",equals(id,"1@example.com',)))).found
        assert route.call_count == 0


class TestExport:
    async def test_exports_profile_lists_and_paginated_events(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """Events are followed through links.next across three pages."""
        profiles_return(router, profile())
        router.get(f"{BASE}/api/profiles/{PID}/lists").mock(
            return_value=httpx.Response(
                200,
                json={
                    "data": [
                        {"type": "list", "id": "L1", "attributes": {"name": "Newsletter"}},
                        {"type": "list", "id": "L2", "attributes": {"name": "VIP"}},
                    ],
                    "links": {"next": None},
                },
            )
        )
        events = router.get(f"{BASE}/api/events")
        events.side_effect = [
            httpx.Response(
                200,
                json={
                    "data": [
                        {"type": "event", "id": f"E{i}", "attributes": {"datetime": "2026-01-01"}}
                        for i in (1, 2)
                    ],
                    "links": {"next": f"{BASE}/api/events?page%5Bcursor%5D=c2"},
                },
            ),
            httpx.Response(
                200,
                json={
                    "data": [{"type": "event", "id": "E3", "attributes": {}}],
                    "links": {"next": f"{BASE}/api/events?page%5Bcursor%5D=c3"},
                },
            ),
            httpx.Response(
                200, json={"data": [{"type": "event", "id": "E4", "attributes": {}}], "links": {}}
            ),
        ]
        grouped = (await klaviyo.export(SUBJECT)).by_category()
        assert [e["id"] for e in grouped["events"]] == ["E1", "E2", "E3", "E4"]
        assert [m["name"] for m in grouped["list_memberships"]] == ["Newsletter", "VIP"]
        assert grouped["profile"][0]["email"] == EMAIL
        assert events.calls[0].request.url.params["filter"] == f'equals(profile_id,"{PID}")'
        assert events.calls[1].request.url.params["page[cursor]"] == "c2"
        assert events.calls[2].request.url.params["page[cursor]"] == "c3"


class TestRectify:
    async def test_patches_only_changed_attributes(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """PATCH /api/profiles/{id} carries changed attributes, location nested, as JSON:API."""
        profiles_return(router, profile())
        patch = router.patch(f"{BASE}/api/profiles/{PID}").mock(
            return_value=httpx.Response(200, json={})
        )
        outcome = await klaviyo.rectify(
            SUBJECT, {"last_name": "Beispiel", "city": "München", "zip": "10115"}
        )
        assert body_of(patch) == {
            "data": {
                "type": "profile",
                "id": PID,
                "attributes": {"last_name": "Beispiel", "location": {"city": "München"}},
            }
        }
        assert patch.calls.last.request.headers["Content-Type"] == JSONAPI
        assert outcome.count == 1

    async def test_phone_maps_to_phone_number(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """The canonical phone field is Klaviyo's phone_number."""
        profiles_return(router, profile())
        patch = router.patch(f"{BASE}/api/profiles/{PID}").mock(
            return_value=httpx.Response(200, json={})
        )
        await klaviyo.rectify(SUBJECT, {"phone": "+4930123456"})
        assert body_of(patch)["data"]["attributes"] == {"phone_number": "+4930123456"}

    async def test_repeat_sends_nothing(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """Values already in place are not written again."""
        profiles_return(router, profile(last_name="Beispiel"))
        patch = router.patch(f"{BASE}/api/profiles/{PID}")
        outcome = await klaviyo.rectify(SUBJECT, {"last_name": "Beispiel"})
        assert patch.call_count == 0
        assert outcome.count == 0

    async def test_422_names_no_email(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """A rejected PATCH raises ValidationFailed without the address in the message."""
        profiles_return(router, profile())
        router.patch(f"{BASE}/api/profiles/{PID}").mock(
            return_value=httpx.Response(
                422,
                json={
                    "errors": [
                        {
                            "code": "invalid",
                            "title": "Invalid input",
                            "detail": "new@x.example is taken",
                        }
                    ]
                },
            )
        )
        with pytest.raises(ValidationFailed) as info:
            await klaviyo.rectify(SUBJECT, {"email": "new@x.example"})
        assert "@" not in str(info.value)


class TestErase:
    async def test_posts_deletion_job_by_profile_id(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """POST /api/data-privacy-deletion-jobs names the profile by id; 202 means pending."""
        profiles_return(router, profile())
        job = router.post(f"{BASE}/api/data-privacy-deletion-jobs").mock(
            return_value=httpx.Response(202)
        )
        outcome = await klaviyo.erase(SUBJECT)
        assert body_of(job) == {
            "data": {
                "type": "data-privacy-deletion-job",
                "attributes": {
                    "profile": {"data": {"type": "profile", "id": PID, "attributes": {}}}
                },
            }
        }
        assert job.calls.last.request.headers["Content-Type"] == JSONAPI
        assert (outcome.complete, outcome.count, outcome.job_ref) == (
            False,
            1,
            f"klaviyo-deletion:{PID}",
        )
        assert EMAIL not in repr(outcome)

    async def test_nothing_to_erase_is_complete(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """No profile: complete with count 0 and no job posted."""
        profiles_return(router)
        job = router.post(f"{BASE}/api/data-privacy-deletion-jobs")
        outcome = await klaviyo.erase(SUBJECT)
        assert (outcome.complete, outcome.count) == (True, 0)
        assert job.call_count == 0

    async def test_status_follows_the_profile(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """The deletion is pending while the profile answers 200 and complete at 404."""
        route = router.get(f"{BASE}/api/profiles/{PID}").mock(
            side_effect=[httpx.Response(200, json={"data": profile()}), httpx.Response(404)]
        )
        assert not (await klaviyo.status(f"klaviyo-deletion:{PID}")).complete
        assert (await klaviyo.status(f"klaviyo-deletion:{PID}")).complete
        assert route.call_count == 2


class TestSuppression:
    async def test_restrict_creates_a_suppression_job(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """Restrict posts profile-suppression-bulk-create-jobs with the profile's e-mail."""
        profiles_return(router, profile())
        job = router.post(f"{BASE}/api/profile-suppression-bulk-create-jobs").mock(
            return_value=httpx.Response(
                202,
                json={
                    "data": {
                        "type": "profile-suppression-bulk-create-job",
                        "id": "J1",
                        "attributes": {"status": "queued"},
                    }
                },
            )
        )
        outcome = await klaviyo.restrict(SUBJECT)
        assert body_of(job) == {
            "data": {
                "type": "profile-suppression-bulk-create-job",
                "attributes": {
                    "profiles": {"data": [{"type": "profile", "attributes": {"email": EMAIL}}]}
                },
            }
        }
        assert (outcome.complete, outcome.job_ref, outcome.count) == (
            False,
            "klaviyo-suppression:J1",
            1,
        )

    async def test_restrict_twice_posts_nothing(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """A profile Klaviyo reports as suppressed gets no second job."""
        profiles_return(router, profile(suppressed=True))
        job = router.post(f"{BASE}/api/profile-suppression-bulk-create-jobs")
        outcome = await klaviyo.restrict(SUBJECT)
        assert job.call_count == 0
        assert (outcome.complete, outcome.count) == (True, 0)

    async def test_lift_deletes_the_suppression(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """Lift posts profile-suppression-bulk-delete-jobs for a suppressed profile."""
        profiles_return(router, profile(suppressed=True))
        job = router.post(f"{BASE}/api/profile-suppression-bulk-delete-jobs").mock(
            return_value=httpx.Response(
                202,
                json={
                    "data": {
                        "type": "profile-suppression-bulk-delete-job",
                        "id": "J2",
                        "attributes": {"status": "complete"},
                    }
                },
            )
        )
        outcome = await klaviyo.lift_restriction(SUBJECT)
        assert body_of(job)["data"]["type"] == "profile-suppression-bulk-delete-job"
        assert (outcome.complete, outcome.count) == (True, 1)

    async def test_suppression_job_status(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """A suppression job is complete when Klaviyo says so."""
        router.get(f"{BASE}/api/profile-suppression-bulk-create-jobs/J1").mock(
            return_value=httpx.Response(
                200, json={"data": {"type": "x", "id": "J1", "attributes": {"status": "complete"}}}
            )
        )
        assert (await klaviyo.status("klaviyo-suppression:J1")).complete


class TestErrors:
    async def test_401_is_auth_error(self, router: respx.Router, klaviyo: KlaviyoConnector) -> None:
        """A bad key raises AuthError without the key in the message."""
        router.get(f"{BASE}/api/profiles").mock(
            return_value=httpx.Response(
                401, json={"errors": [{"title": "Incorrect authentication credentials."}]}
            )
        )
        with pytest.raises(AuthError) as info:
            await klaviyo.locate(SUBJECT)
        assert KEY not in str(info.value)

    async def test_5xx_retried_then_transient(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """Persistent 504s end in TransientError after the policy's attempts."""
        route = router.get(f"{BASE}/api/profiles").mock(return_value=httpx.Response(504))
        with pytest.raises(TransientError):
            await klaviyo.locate(SUBJECT)
        assert route.call_count == RetryPolicy().max_attempts

    async def test_429_waits_retry_after(
        self, router: respx.Router, klaviyo: KlaviyoConnector, fake_time: FakeTime
    ) -> None:
        """Klaviyo's integer Retry-After is waited exactly."""
        router.get(f"{BASE}/api/profiles").mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "5"}),
                httpx.Response(200, json={"data": []}),
            ]
        )
        await klaviyo.locate(SUBJECT)
        assert fake_time.sleeps == [5.0]

    async def test_malformed_json_is_protocol_error(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        """A truncated body raises ProtocolError."""
        router.get(f"{BASE}/api/profiles").mock(
            return_value=httpx.Response(200, content=b'{"data": [{"ty')
        )
        with pytest.raises(ProtocolError):
            await klaviyo.locate(SUBJECT)


class TestRevision:
    def test_a_retired_revision_is_refused_naming_the_setting(self) -> None:
        """Klaviyo retired 2024-10-15 on 2026-10-15: the connector will not speak it."""
        with pytest.raises(UnsupportedVersion, match="DSAR_KLAVIYO_REVISION=2024-10-15"):
            KlaviyoConnector(BASE, KEY, "2024-10-15", today=date(2026, 12, 4))

    def test_a_revision_near_its_end_is_used_with_a_warning(self) -> None:
        with structlog.testing.capture_logs() as logs:
            KlaviyoConnector(BASE, KEY, "2024-12-15", today=date(2026, 11, 20))
        (warning,) = [entry for entry in logs if entry["event"] == "api_version_ending"]
        assert warning["log_level"] == "warning"
        assert "ends on 2026-12-15" in warning["detail"]

    @pytest.mark.parametrize(("revision", "sized"), [("2025-10-15", False), ("2026-07-15", True)])
    async def test_events_are_paged_as_the_revision_allows(
        self,
        router: respx.Router,
        transport: httpx.AsyncBaseTransport,
        policy: RetryPolicy,
        revision: str,
        sized: bool,
    ) -> None:
        """``page[size]`` exists on GET /api/events only from 2026-01-15 on."""
        connector = KlaviyoConnector(
            BASE,
            KEY,
            revision,
            transport=transport,
            rate=Unlimited(),
            retry=policy,
            today=date(2026, 12, 4),
        )
        profiles_return(router, profile())
        router.get(f"{BASE}/api/profiles/{PID}/lists").mock(
            return_value=httpx.Response(200, json={"data": [], "links": {"next": None}})
        )
        events = router.get(f"{BASE}/api/events").mock(
            return_value=httpx.Response(200, json={"data": [], "links": {"next": None}})
        )
        async with connector:
            await connector.export(Subject(emails=(EMAIL,)))
        assert ("page[size]" in events.calls[0].request.url.params) is sized


class TestPhoneNumbers:
    @pytest.mark.parametrize(
        ("written", "e164_form"),
        [
            ("+43 660 123 45 67", "+436601234567"),
            ("0043 (660) 1234567", "+436601234567"),
            ("+1-212-555-0100", "+12125550100"),
            ("0660 1234567", None),  # national: names no country
            ("+43 66", None),  # too short to be a number
        ],
    )
    def test_a_number_is_asked_for_in_e164_or_not_at_all(
        self, written: str, e164_form: str | None
    ) -> None:
        assert e164(written) == e164_form

    async def test_the_lookup_sends_the_e164_form(
        self, router: respx.Router, klaviyo: KlaviyoConnector
    ) -> None:
        route = router.get(f"{BASE}/api/profiles").mock(
            return_value=httpx.Response(200, json={"data": [], "links": {"next": None}})
        )
        await klaviyo.locate(Subject(phones=("+43 660 123 45 67", "0660 1234567")))
        assert [c.request.url.params["filter"] for c in route.calls] == [
            'equals(phone_number,"+436601234567")'
        ]
