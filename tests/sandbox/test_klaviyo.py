"""Contract tests of the Klaviyo emulator against processor-apis.md."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from sandbox import JONAS, KLAVIYO_API_KEY, MARIA, NEWSLETTER_ONLY, KlaviyoLimits, Sandbox, Tier
from sandbox.klaviyo_vendor import revision_problem
from tests.sandbox.conftest import KLAVIYO_HEADERS, FakeClock, client

pytestmark = pytest.mark.anyio


def by_email(email: str) -> dict[str, str]:
    return {"filter": f'equals(email,"{email}")'}


def deletion(**identifiers: str) -> dict[str, Any]:
    profile: dict[str, Any] = {"type": "profile", "attributes": identifiers}
    return {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {"profile": {"data": profile}},
        }
    }


def bulk(job_type: str, *emails: str) -> dict[str, Any]:
    profiles = [{"type": "profile", "attributes": {"email": e}} for e in emails]
    return {"data": {"type": job_type, "attributes": {"profiles": {"data": profiles}}}}


async def ids(c: httpx.AsyncClient, params: dict[str, str]) -> list[str]:
    response = await c.get("/api/profiles", params=params)
    assert response.status_code == 200
    return [item["id"] for item in response.json()["data"]]


async def walk(c: httpx.AsyncClient, url: str) -> tuple[list[str], int]:
    """Follow ``links.next`` from ``url``; the ids seen and the number of pages."""
    seen: list[str] = []
    pages = 0
    next_url: str | None = url
    while next_url:
        response = await c.get(next_url)
        assert response.status_code == 200
        seen += [item["id"] for item in response.json()["data"]]
        pages += 1
        next_url = response.json()["links"].get("next")
    return seen, pages


class TestHeaders:
    async def test_missing_or_wrong_key_is_401_in_jsonapi_form(self, sandbox: Sandbox) -> None:
        """Requests without ``Klaviyo-API-Key <key>`` get 401 with a JSON:API error."""
        async with client(sandbox.klaviyo_app, "http://klaviyo.test") as anonymous:
            missing = await anonymous.get("/api/profiles", headers={"revision": "2024-10-15"})
            wrong = await anonymous.get(
                "/api/profiles",
                headers={"revision": "2024-10-15", "Authorization": "Klaviyo-API-Key pk_x"},
            )
        for response in (missing, wrong):
            assert response.status_code == 401
            (error,) = response.json()["errors"]
            assert {"id", "code", "title", "detail", "source"} <= error.keys()

    async def test_a_retired_revision_is_refused_with_klaviyos_error(self) -> None:
        """Klaviyo retires a revision two years after its release: 2024-10-15 on 2026-10-15."""
        box = Sandbox.create(customers=5, wall_clock=lambda: datetime(2026, 12, 4, tzinfo=UTC))
        headers = {**KLAVIYO_HEADERS, "revision": "2024-10-15"}
        async with client(box.klaviyo_app, "http://klaviyo.test", headers=headers) as old:
            response = await old.get("/api/profiles")
        assert response.status_code == 400
        (error,) = response.json()["errors"]
        assert error["code"] == "invalid"
        assert error["source"] == {"parameter": "revision"}
        assert "retired on 2026-10-15" in error["detail"]

    @pytest.mark.parametrize(
        ("revision", "served"),
        [
            ("2024-11-15", False),  # retired on 2026-11-15
            ("2024-12-15", True),  # retired only on 2026-12-15
            ("2026-07-15", True),  # the newest contract on file
            ("2026-10-15", True),  # newer than the newest on file: served as that one
            ("2027-01-15", False),  # not released yet
        ],
    )
    def test_a_revision_is_served_from_its_release_for_two_years(
        self, revision: str, served: bool
    ) -> None:
        problem = revision_problem(revision, date(2026, 12, 4))
        assert (problem is None) is served

    async def test_events_page_size_is_refused_for_a_revision_that_lacks_it(
        self, sandbox: Sandbox
    ) -> None:
        """``page[size]`` on GET /api/events exists from revision 2026-01-15 on."""
        headers = {**KLAVIYO_HEADERS, "revision": "2025-10-15"}
        async with client(sandbox.klaviyo_app, "http://klaviyo.test", headers=headers) as old:
            refused = await old.get("/api/events", params={"page[size]": "50"})
            plain = await old.get("/api/events")
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["source"] == {"parameter": "page[size]"}
        assert plain.status_code == 200
        async with client(sandbox.klaviyo_app, "http://klaviyo.test", headers=KLAVIYO_HEADERS) as c:
            assert (await c.get("/api/events", params={"page[size]": "50"})).status_code == 200

    async def test_missing_revision_header_is_400(self, sandbox: Sandbox) -> None:
        """The ``revision`` header is required."""
        headers = {"Authorization": f"Klaviyo-API-Key {KLAVIYO_API_KEY}"}
        async with client(sandbox.klaviyo_app, "http://klaviyo.test", headers=headers) as c:
            response = await c.get("/api/profiles")
        assert response.status_code == 400
        assert response.json()["errors"][0]["source"] == {"parameter": "revision"}

    async def test_responses_are_jsonapi_with_rate_limit_headers(
        self, klaviyo: httpx.AsyncClient
    ) -> None:
        """Successful answers are vnd.api+json and carry the RateLimit-* headers."""
        response = await klaviyo.get("/api/lists")
        assert response.headers["content-type"] == "application/vnd.api+json"
        assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= set(
            response.headers
        )


class TestProfiles:
    async def test_email_filter_ignores_letter_case(self, klaviyo: httpx.AsyncClient) -> None:
        """Jonas is stored lower-case; his mixed-case address still finds him."""
        assert await ids(klaviyo, by_email("Jonas.Beispiel@Example.com")) == [
            JONAS.klaviyo_profile_id
        ]

    async def test_phone_external_id_and_id_filters_find_the_profile(
        self, klaviyo: httpx.AsyncClient
    ) -> None:
        """``phone_number``, ``external_id`` and ``id`` are filters too."""
        queries = [
            f'equals(phone_number,"{MARIA.phone}")',
            f'equals(external_id,"{MARIA.shopify_customer_id}")',
            f'any(id,["{MARIA.klaviyo_profile_id}","nope"])',
        ]
        for query in queries:
            assert await ids(klaviyo, {"filter": query}) == [MARIA.klaviyo_profile_id]

    async def test_a_phone_number_matches_only_in_e164_exactly(
        self, klaviyo: httpx.AsyncClient
    ) -> None:
        """Klaviyo stores E.164 and compares it exactly: another spelling finds no one."""
        assert MARIA.phone == "+436601234567"
        for spelling in ("+43 660 1234567", "00436601234567", "06601234567"):
            assert await ids(klaviyo, {"filter": f'equals(phone_number,"{spelling}")'}) == []
        exact = {"filter": f'equals(phone_number,"{MARIA.phone}")'}
        assert await ids(klaviyo, exact) == [MARIA.klaviyo_profile_id]

    async def test_invalid_filter_is_400_pointing_at_the_parameter(
        self, klaviyo: httpx.AsyncClient
    ) -> None:
        """Unparseable filters and unknown fields are refused."""
        for query in ('equals(email,"x"', 'equals(favourite_colour,"red")'):
            response = await klaviyo.get("/api/profiles", params={"filter": query})
            assert response.status_code == 400
            assert response.json()["errors"][0]["source"] == {"parameter": "filter"}

    async def test_links_next_pages_cover_every_profile_exactly_once(
        self, sandbox: Sandbox, klaviyo: httpx.AsyncClient
    ) -> None:
        """Following the full ``links.next`` URLs visits each profile once."""
        seen, pages = await walk(klaviyo, "/api/profiles?page[size]=13")
        assert sorted(seen) == sorted(sandbox.klaviyo.profiles)
        assert len(seen) == len(set(seen))
        assert pages > 1

    async def test_page_size_above_100_is_400(self, klaviyo: httpx.AsyncClient) -> None:
        """``page[size]`` accepts 1 to 100."""
        response = await klaviyo.get("/api/profiles", params={"page[size]": "101"})
        assert response.status_code == 400

    async def test_unknown_profile_is_404(self, klaviyo: httpx.AsyncClient) -> None:
        """GET of an unknown id answers 404 ``not_found``."""
        response = await klaviyo.get("/api/profiles/01NOPE")
        assert response.status_code == 404
        assert response.json()["errors"][0]["code"] == "not_found"

    async def test_patch_changes_attributes_and_answers_200(
        self, sandbox: Sandbox, klaviyo: httpx.AsyncClient
    ) -> None:
        """PATCH takes a JSON:API body and returns the updated profile."""
        body = {
            "data": {
                "type": "profile",
                "id": MARIA.klaviyo_profile_id,
                "attributes": {"last_name": "Muster-Beispiel", "location": {"city": "Graz"}},
            }
        }
        response = await klaviyo.patch(f"/api/profiles/{MARIA.klaviyo_profile_id}", json=body)
        assert response.status_code == 200
        attributes = response.json()["data"]["attributes"]
        assert attributes["last_name"] == "Muster-Beispiel"
        assert attributes["location"]["city"] == "Graz"
        assert sandbox.klaviyo.calls.effects("profile_updated", MARIA.klaviyo_profile_id) == 1

    async def test_patch_refuses_invalid_and_duplicate_emails(
        self, klaviyo: httpx.AsyncClient
    ) -> None:
        """An invalid address is 400; another profile's address is 409 duplicate_profile."""
        path = f"/api/profiles/{MARIA.klaviyo_profile_id}"

        def body(email: str) -> dict[str, Any]:
            attributes = {"email": email}
            return {"data": {"type": "profile", "id": MARIA.klaviyo_profile_id,
                             "attributes": attributes}}  # fmt: skip

        invalid = await klaviyo.patch(path, json=body("no-at-sign"))
        duplicate = await klaviyo.patch(path, json=body(JONAS.email))
        assert invalid.status_code == 400
        assert duplicate.status_code == 409
        assert duplicate.json()["errors"][0]["code"] == "duplicate_profile"


class TestListsAndEvents:
    async def test_profile_lists_and_all_lists(self, klaviyo: httpx.AsyncClient) -> None:
        """Maria is in two lists; /api/lists shows all of them."""
        mine = await klaviyo.get(f"/api/profiles/{MARIA.klaviyo_profile_id}/lists")
        every = await klaviyo.get("/api/lists")
        names = {item["attributes"]["name"] for item in mine.json()["data"]}
        assert names == {"Newsletter", "VIP Customers"}
        assert len(every.json()["data"]) == 4

    async def test_events_of_a_profile_span_two_pages(self, klaviyo: httpx.AsyncClient) -> None:
        """Maria's 32 events come in pages of 20, each once."""
        query = f'equals(profile_id,"{MARIA.klaviyo_profile_id}")'
        response = await klaviyo.get("/api/events", params={"filter": query, "page[size]": "20"})
        first_url = str(response.request.url)
        seen, pages = await walk(klaviyo, first_url)
        assert pages == 2
        assert len(seen) == len(set(seen)) == MARIA.klaviyo_events

    async def test_events_can_include_their_metrics(self, klaviyo: httpx.AsyncClient) -> None:
        """``include=metric`` adds the metric names under ``included``."""
        query = f'equals(profile_id,"{JONAS.klaviyo_profile_id}")'
        response = await klaviyo.get("/api/events", params={"filter": query, "include": "metric"})
        metrics = {item["id"] for item in response.json()["included"]}
        used = {e["relationships"]["metric"]["data"]["id"] for e in response.json()["data"]}
        assert metrics == used


class TestDeletion:
    async def test_deletion_job_is_202_without_body_and_erases_after_the_delay(
        self, sandbox: Sandbox, klaviyo: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """The profile, its events and memberships stay until the delay, then are gone."""
        response = await klaviyo.post(
            "/api/data-privacy-deletion-jobs", json=deletion(email="MARIA.Muster@example.com")
        )
        assert (response.status_code, response.content) == (202, b"")
        assert await ids(klaviyo, by_email(MARIA.email)) == [MARIA.klaviyo_profile_id]
        clock.advance(1.0)
        assert await ids(klaviyo, by_email(MARIA.email)) == []
        events = await klaviyo.get(
            "/api/events", params={"filter": f'equals(profile_id,"{MARIA.klaviyo_profile_id}")'}
        )
        assert events.json()["data"] == []
        assert (await klaviyo.get(f"/api/profiles/{MARIA.klaviyo_profile_id}")).status_code == 404
        assert sandbox.klaviyo.calls.effects("deletion_requested", MARIA.klaviyo_profile_id) == 1

    async def test_a_deletion_profile_without_attributes_is_refused(
        self, klaviyo: httpx.AsyncClient, sandbox: Sandbox
    ) -> None:
        """The contract requires ``attributes`` on the profile, even beside an ``id``."""
        body = {
            "data": {
                "type": "data-privacy-deletion-job",
                "attributes": {
                    "profile": {"data": {"type": "profile", "id": MARIA.klaviyo_profile_id}}
                },
            }
        }
        response = await klaviyo.post("/api/data-privacy-deletion-jobs", json=body)
        assert response.status_code == 400
        (error,) = response.json()["errors"]
        assert error["detail"] == "'attributes' is a required property"
        assert error["source"] == {"pointer": "/data/attributes/profile/data/attributes"}
        assert sandbox.klaviyo.calls.effects("deletion_requested", MARIA.klaviyo_profile_id) == 0

    async def test_deletion_needs_exactly_one_identifier(self, klaviyo: httpx.AsyncClient) -> None:
        """Zero or two identifiers are 400."""
        for identifiers in ({}, {"email": MARIA.email, "phone_number": MARIA.phone or ""}):
            response = await klaviyo.post(
                "/api/data-privacy-deletion-jobs", json=deletion(**identifiers)
            )
            assert response.status_code == 400

    async def test_repeated_deletion_is_accepted_and_harmless(
        self, sandbox: Sandbox, klaviyo: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """Deleting by phone twice: both 202, one profile gone, everyone else untouched."""
        before = len(sandbox.klaviyo.profiles)
        for _ in range(2):
            response = await klaviyo.post(
                "/api/data-privacy-deletion-jobs", json=deletion(phone_number=MARIA.phone or "")
            )
            assert response.status_code == 202
            clock.advance(1.0)
        assert await ids(klaviyo, by_email(MARIA.email)) == []
        assert len(sandbox.klaviyo.profiles) == before - 1


class TestJobs:
    async def test_suppression_job_completes_and_shows_on_the_profile(
        self, klaviyo: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """202 with a queued job; after the delay the job is complete and the profile
        carries a USER_SUPPRESSED suppression (with additional-fields)."""
        created = await klaviyo.post(
            "/api/profile-suppression-bulk-create-jobs",
            json=bulk("profile-suppression-bulk-create-job", MARIA.email, "ghost@example.com"),
        )
        assert created.status_code == 202
        job = created.json()["data"]
        assert (job["type"], job["attributes"]["status"]) == (
            "profile-suppression-bulk-create-job",
            "queued",
        )
        clock.advance(1.0)
        polled = await klaviyo.get(f"/api/profile-suppression-bulk-create-jobs/{job['id']}")
        attributes = polled.json()["data"]["attributes"]
        assert (attributes["status"], attributes["completed_count"]) == ("complete", 2)
        assert attributes["skipped_count"] == 0
        profile = await klaviyo.get(
            f"/api/profiles/{MARIA.klaviyo_profile_id}",
            params={"additional-fields[profile]": "subscriptions"},
        )
        marketing = profile.json()["data"]["attributes"]["subscriptions"]["email"]["marketing"]
        assert [s["reason"] for s in marketing["suppression"]] == ["USER_SUPPRESSED"]
        assert marketing["can_receive_email_marketing"] is False

    async def test_suppressing_an_unknown_address_creates_a_suppressed_profile(
        self, klaviyo: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """Klaviyo keeps a profile for a suppressed address it had never seen, so a later import
        cannot mail it: after such a job the address is found, suppressed."""
        ghost = "ghost@example.com"
        assert await ids(klaviyo, {"filter": f'equals(email,"{ghost}")'}) == []
        body = bulk("profile-suppression-bulk-create-job", ghost)
        created = await klaviyo.post("/api/profile-suppression-bulk-create-jobs", json=body)
        assert created.status_code == 202
        clock.advance(1.0)
        (profile_id,) = await ids(klaviyo, {"filter": f'equals(email,"{ghost}")'})
        profile = await klaviyo.get(
            f"/api/profiles/{profile_id}", params={"additional-fields[profile]": "subscriptions"}
        )
        marketing = profile.json()["data"]["attributes"]["subscriptions"]["email"]["marketing"]
        assert [s["reason"] for s in marketing["suppression"]] == ["USER_SUPPRESSED"]

    async def test_subscriptions_appear_only_when_asked_for(
        self, klaviyo: httpx.AsyncClient
    ) -> None:
        """Like Klaviyo, ``subscriptions`` needs ``additional-fields[profile]``."""
        plain = await klaviyo.get(f"/api/profiles/{MARIA.klaviyo_profile_id}")
        assert "subscriptions" not in plain.json()["data"]["attributes"]

    async def test_unsuppression_job_lifts_a_user_suppression(
        self, klaviyo: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """A bulk-delete job removes the suppression a bulk-create job added."""
        for job_type in (
            "profile-suppression-bulk-create-job",
            "profile-suppression-bulk-delete-job",
        ):
            response = await klaviyo.post(f"/api/{job_type}s", json=bulk(job_type, MARIA.email))
            assert response.status_code == 202
            clock.advance(1.0)
        profile = await klaviyo.get(
            f"/api/profiles/{MARIA.klaviyo_profile_id}",
            params={"additional-fields[profile]": "subscriptions"},
        )
        marketing = profile.json()["data"]["attributes"]["subscriptions"]["email"]["marketing"]
        assert marketing["suppression"] == []

    async def test_an_unsubscribe_profile_without_subscriptions_is_refused(
        self, klaviyo: httpx.AsyncClient
    ) -> None:
        """The contract requires ``subscriptions``: which channels to unsubscribe from."""
        body = bulk("profile-subscription-bulk-delete-job", NEWSLETTER_ONLY.email)
        response = await klaviyo.post("/api/profile-subscription-bulk-delete-jobs", json=body)
        assert response.status_code == 400
        assert response.json()["errors"][0]["detail"] == "'subscriptions' is a required property"

    async def test_an_sms_unsubscribe_ends_the_sms_consent_of_that_number(
        self, klaviyo: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        url = f"/api/profiles/{MARIA.klaviyo_profile_id}"
        params = {"additional-fields[profile]": "subscriptions"}

        async def sms_consent() -> str:
            profile = await klaviyo.get(url, params=params)
            return str(
                profile.json()["data"]["attributes"]["subscriptions"]["sms"]["marketing"]["consent"]
            )

        assert await sms_consent() == "SUBSCRIBED"
        item = {
            "type": "profile",
            "attributes": {
                "phone_number": MARIA.phone,
                "subscriptions": {"sms": {"marketing": {"consent": "UNSUBSCRIBED"}}},
            },
        }
        job = "profile-subscription-bulk-delete-job"
        body = {"data": {"type": job, "attributes": {"profiles": {"data": [item]}}}}
        response = await klaviyo.post(f"/api/{job}s", json=body)
        assert response.status_code == 202
        clock.advance(1.0)
        assert await sms_consent() == "UNSUBSCRIBED"

    async def test_unsubscribe_job_withdraws_consent_and_list_membership(
        self, klaviyo: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """202 without body; afterwards consent is UNSUBSCRIBED and the list is left."""
        body = bulk("profile-subscription-bulk-delete-job", NEWSLETTER_ONLY.email)
        unsubscribed = {"email": {"marketing": {"consent": "UNSUBSCRIBED"}}}
        for item in body["data"]["attributes"]["profiles"]["data"]:
            item["attributes"]["subscriptions"] = unsubscribed
        body["data"]["relationships"] = {"list": {"data": {"type": "list", "id": "UxN3kp"}}}
        response = await klaviyo.post("/api/profile-subscription-bulk-delete-jobs", json=body)
        assert (response.status_code, response.content) == (202, b"")
        clock.advance(1.0)
        profile = await klaviyo.get(
            f"/api/profiles/{NEWSLETTER_ONLY.klaviyo_profile_id}",
            params={"additional-fields[profile]": "subscriptions"},
        )
        marketing = profile.json()["data"]["attributes"]["subscriptions"]["email"]["marketing"]
        assert marketing["consent"] == "UNSUBSCRIBED"
        lists = await klaviyo.get(f"/api/profiles/{NEWSLETTER_ONLY.klaviyo_profile_id}/lists")
        assert lists.json()["data"] == []


class TestRateLimits:
    @pytest.fixture
    def tight(self, clock: FakeClock) -> Sandbox:
        """Profiles limited to 3 per second and 5 per minute."""
        limits = KlaviyoLimits(tiers={"L": Tier(3, 5), "S": Tier(3, 60), "M": Tier(10, 150),
                                      "XL": Tier(350, 3500)})  # fmt: skip
        return Sandbox.create(customers=10, clock=clock, klaviyo_limits=limits)

    async def test_burst_window_refuses_with_429_and_retry_after(
        self, tight: Sandbox, clock: FakeClock
    ) -> None:
        """The fourth request in a second is 429 ``throttled`` with integer Retry-After."""
        async with client(tight.klaviyo_app, "http://k.test", headers=KLAVIYO_HEADERS) as c:
            responses = [await c.get("/api/profiles") for _ in range(4)]
        assert [r.status_code for r in responses] == [200, 200, 200, 429]
        assert [r.headers["RateLimit-Remaining"] for r in responses[:3]] == ["2", "1", "0"]
        refused = responses[3]
        assert refused.headers["Retry-After"] == "1"
        (error,) = refused.json()["errors"]
        assert (error["status"], error["code"], error["title"]) == (
            429,
            "throttled",
            "Request was throttled.",
        )
        assert tight.klaviyo.calls.throttled == 1

    async def test_steady_window_outlasts_the_burst_window(
        self, tight: Sandbox, clock: FakeClock
    ) -> None:
        """After 5 requests in a minute, a new second does not help until the minute ends."""
        async with client(tight.klaviyo_app, "http://k.test", headers=KLAVIYO_HEADERS) as c:
            statuses = []
            for _ in range(6):
                statuses.append((await c.get("/api/profiles")).status_code)
                clock.advance(1.0)
            refused = await c.get("/api/profiles")
            clock.advance(60.0)
            later = await c.get("/api/profiles")
        assert statuses == [200] * 5 + [429]
        assert int(refused.headers["Retry-After"]) > 1
        assert later.status_code == 200

    async def test_windows_are_counted_per_endpoint(self, tight: Sandbox) -> None:
        """Exhausting /api/profiles leaves /api/lists untouched."""
        async with client(tight.klaviyo_app, "http://k.test", headers=KLAVIYO_HEADERS) as c:
            for _ in range(4):
                await c.get("/api/profiles")
            other = await c.get("/api/lists")
        assert other.status_code == 200
