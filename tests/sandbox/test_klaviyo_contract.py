"""The Klaviyo emulator holds every request to Klaviyo's published contract and answers as the
contract says: the extract itself, parameters, bodies, scopes, filters and answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from sandbox import MARIA, Sandbox
from sandbox.klaviyo import EVENT_FILTERS, PROFILE_FILTERS
from sandbox.klaviyo_contract import CONTRACT, load_contract
from tests.sandbox.conftest import run_contract_tool

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT.parent / "shared" / "vendor-contracts" / "klaviyo"
MARIA_ID = MARIA.klaviyo_profile_id
ADDITIONAL = "additional-fields[profile]"


def invalid_of(response: httpx.Response) -> dict[str, Any]:
    """The one JSON:API error of a 400 ``invalid`` answer."""
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == "invalid"
    assert {"id", "code", "title", "detail"} <= error.keys()
    body: dict[str, Any] = error
    return body


def suppression(*profiles: dict[str, Any]) -> dict[str, Any]:
    return {
        "data": {
            "type": "profile-suppression-bulk-create-job",
            "attributes": {"profiles": {"data": list(profiles)}},
        }
    }


class TestExtract:
    def test_is_free_of_prose_and_keeps_scopes_filters_and_limits(self) -> None:
        text = CONTRACT.read_text(encoding="utf-8")
        assert '"description"' not in text
        assert '"summary"' not in text
        assert '"example"' not in text
        operation = json.loads(text)["paths"]["/api/data-privacy-deletion-jobs"]["post"]
        assert operation["x-klaviyo-scopes"] == ["data-privacy:write"]
        assert set(operation["x-klaviyo-ratelimit"]) == {"burst", "steady"}
        assert load_contract().revision == "2026-07-15"

    @pytest.mark.skipif(not SOURCES.is_dir(), reason="the vendor contracts are not on this machine")
    def test_is_exactly_what_the_tool_makes_from_the_vendor_file(self, tmp_path: Path) -> None:
        run_contract_tool("klaviyo", SOURCES, tmp_path)
        assert (tmp_path / CONTRACT.name).read_bytes() == CONTRACT.read_bytes()


class TestRoutes:
    def test_every_route_is_an_operation_of_the_contract_and_every_operation_is_served(
        self, sandbox: Sandbox
    ) -> None:
        served = {
            (method, route.path.replace("{profile_id}", "{id}"))
            for route in sandbox.klaviyo_app.routes
            if isinstance(route, Route) and not route.path.startswith("/_sandbox")
            for method in route.methods or ()
            if method != "HEAD"
        }
        assert served == set(load_contract().operations)

    def test_filter_operators_are_the_ones_klaviyo_declares(self) -> None:
        """Profiles' ``created`` takes greater-than and less-than only; events' ``profile_id``
        only equals: the tables come from ``x-klaviyo-filters``, not from our reading."""
        assert PROFILE_FILTERS["created"] == ("greater-than", "less-than")
        assert PROFILE_FILTERS["email"] == ("any", "equals")
        assert EVENT_FILTERS["profile_id"] == ("equals",)

    async def test_an_operator_the_contract_does_not_declare_is_refused(
        self, klaviyo: httpx.AsyncClient
    ) -> None:
        response = await klaviyo.get(
            "/api/profiles", params={"filter": "greater-or-equal(created,2026-01-01T00:00:00Z)"}
        )
        assert invalid_of(response)["source"] == {"parameter": "filter"}


class TestParameters:
    async def test_an_undeclared_parameter_is_refused_naming_it(
        self, klaviyo: httpx.AsyncClient
    ) -> None:
        response = await klaviyo.get("/api/profiles", params={"page[limit]": "5"})
        error = invalid_of(response)
        assert error["source"] == {"parameter": "page[limit]"}
        assert "page[limit]" in error["detail"]

    @pytest.mark.parametrize(
        ("path", "params", "parameter"),
        [
            ("/api/events", {"page[size]": "1001"}, "page[size]"),
            ("/api/events", {"page[size]": "many"}, "page[size]"),
            ("/api/events", {"sort": "-created"}, "sort"),
            ("/api/profiles", {"fields[profile]": "email,shoe_size"}, "fields[profile]"),
            ("/api/profiles", {ADDITIONAL: "everything"}, ADDITIONAL),
            ("/api/lists", {"page[size]": "11"}, "page[size]"),
        ],
    )  # fmt: skip
    async def test_values_are_held_to_their_declared_type_enum_and_bounds(
        self, klaviyo: httpx.AsyncClient, path: str, params: dict[str, str], parameter: str
    ) -> None:
        response = await klaviyo.get(path, params=params)
        assert invalid_of(response)["source"] == {"parameter": parameter}

    async def test_the_largest_page_the_contract_allows_is_served(
        self, klaviyo: httpx.AsyncClient
    ) -> None:
        response = await klaviyo.get(
            "/api/events",
            params={"filter": f'equals(profile_id,"{MARIA_ID}")', "page[size]": "1000"},
        )
        assert response.status_code == 200, response.text


class TestBodies:
    async def test_a_suppression_without_an_email_is_refused_at_its_pointer(
        self, klaviyo: httpx.AsyncClient
    ) -> None:
        body = suppression({"type": "profile", "attributes": {"phone_number": "+436601234567"}})
        response = await klaviyo.post("/api/profile-suppression-bulk-create-jobs", json=body)
        error = invalid_of(response)
        assert error["source"] == {"pointer": "/data/attributes/profiles/data/0/attributes/email"}
        assert error["detail"] == "'email' is a required property"

    async def test_a_value_of_the_wrong_type_is_refused(self, klaviyo: httpx.AsyncClient) -> None:
        body = {
            "data": {"type": "profile", "id": MARIA_ID, "attributes": {"first_name": ["Maria"]}}
        }
        response = await klaviyo.patch(f"/api/profiles/{MARIA_ID}", json=body)
        error = invalid_of(response)
        assert error["source"] == {"pointer": "/data/attributes/first_name"}

    async def test_null_is_accepted_where_the_contract_says_nullable(
        self, klaviyo: httpx.AsyncClient
    ) -> None:
        """OpenAPI 3.0's ``nullable`` is honoured: a profile's ``last_name`` may be cleared."""
        body = {"data": {"type": "profile", "id": MARIA_ID, "attributes": {"last_name": None}}}
        response = await klaviyo.patch(f"/api/profiles/{MARIA_ID}", json=body)
        assert response.status_code == 200, response.text

    async def test_a_body_that_is_not_json_is_refused(self, klaviyo: httpx.AsyncClient) -> None:
        response = await klaviyo.post(
            "/api/data-privacy-deletion-jobs",
            content=b"{not json",
            headers={"Content-Type": "application/vnd.api+json"},
        )
        assert invalid_of(response)["source"] == {"pointer": "/data/"}

    async def test_a_missing_body_is_refused(self, klaviyo: httpx.AsyncClient) -> None:
        response = await klaviyo.post("/api/profile-subscription-bulk-delete-jobs")
        assert invalid_of(response)["detail"] == "A request body is required."


class TestScopes:
    async def test_a_key_without_the_operations_scope_gets_permission_denied(
        self, klaviyo: httpx.AsyncClient, sandbox: Sandbox
    ) -> None:
        """A read-only key may look profiles up but not request their deletion."""
        sandbox.klaviyo.key_scopes = frozenset({"profiles:read", "events:read", "lists:read"})
        found = await klaviyo.get(f"/api/profiles/{MARIA_ID}")
        body = {
            "data": {
                "type": "data-privacy-deletion-job",
                "attributes": {
                    "profile": {"data": {"type": "profile", "attributes": {"email": MARIA.email}}}
                },
            }
        }
        refused = await klaviyo.post("/api/data-privacy-deletion-jobs", json=body)
        assert found.status_code == 200
        assert refused.status_code == 403
        (error,) = refused.json()["errors"]
        assert error["code"] == "permission_denied"
        assert "data-privacy:write" in error["detail"]
        assert sandbox.klaviyo.deletions == []


class TestAnswers:
    """The emulator's own answers are what the contract says Klaviyo answers."""

    async def test_a_profile_with_its_subscriptions_matches_the_contract(
        self, klaviyo: httpx.AsyncClient
    ) -> None:
        response = await klaviyo.get(
            f"/api/profiles/{MARIA_ID}", params={"additional-fields[profile]": "subscriptions"}
        )
        validator = load_contract().answer_validator("GET", "/api/profiles/{id}", "200")
        assert list(validator.iter_errors(response.json())) == []

    async def test_a_page_of_events_with_metrics_matches_the_contract(
        self, klaviyo: httpx.AsyncClient
    ) -> None:
        response = await klaviyo.get(
            "/api/events",
            params={"filter": f'equals(profile_id,"{MARIA_ID}")', "include": "metric"},
        )
        validator = load_contract().answer_validator("GET", "/api/events", "200")
        assert list(validator.iter_errors(response.json())) == []

    async def test_an_error_matches_the_contracts_client_error(
        self, klaviyo: httpx.AsyncClient
    ) -> None:
        response = await klaviyo.get("/api/profiles", params={"page[size]": "0"})
        validator = load_contract().answer_validator("GET", "/api/profiles", "4XX")
        assert response.status_code == 400
        assert list(validator.iter_errors(response.json())) == []
