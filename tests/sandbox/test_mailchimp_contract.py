"""The Mailchimp emulator holds every request to Mailchimp's published contract, and answers
as the contract says: the extract itself, parameters, bodies, routes and answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from sandbox import JONAS, MAILCHIMP_LIST_ID, MARIA, Sandbox
from sandbox.mailchimp_contract import CONTRACT, load_contract
from tests.sandbox.conftest import run_contract_tool

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT.parent / "shared" / "vendor-contracts" / "mailchimp"
MEMBER = "/3.0/lists/{list_id}/members/{subscriber_hash}"
MARIA_PATH = f"/3.0/lists/{MAILCHIMP_LIST_ID}/members/{MARIA.mailchimp_subscriber_hash}"
MEMBERS_PATH = f"/3.0/lists/{MAILCHIMP_LIST_ID}/members"
PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance"}


def problem_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response's problem document, after checking it is one, with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_FIELDS
    assert body["status"] == status
    return body


def fields_of(body: dict[str, Any]) -> list[str]:
    return [error["field"] for error in body.get("errors", [])]


class TestExtract:
    def test_is_free_of_prose_and_uses_mailchimps_parameter_names(self) -> None:
        text = CONTRACT.read_text(encoding="utf-8")
        document = json.loads(text)
        assert '"description"' not in text
        assert '"summary"' not in text
        assert MEMBER in document["paths"]
        assert "{listId}" not in text
        assert "{subscriberHash}" not in text

    def test_the_vendor_excerpt_wins_where_the_sources_differ(self) -> None:
        """PUT needs email_address with status or status_if_new (the vendor's oneOf, not the
        conversion's email_address + status_if_new); search-members requires ``query``."""
        document = load_contract().document
        put = document["paths"][MEMBER]["put"]
        body = put["requestBody"]["content"]["application/json"]["schema"]
        assert [sorted(form["required"]) for form in body["oneOf"]] == [
            ["email_address", "status_if_new"],
            ["email_address", "status"],
        ]
        assert put["x-origin"] == "vendor"
        (query,) = [
            p for p in document["paths"]["/3.0/search-members"]["get"]["parameters"]
            if p["name"] == "query"
        ]  # fmt: skip
        assert query["required"] is True

    @pytest.mark.skipif(not SOURCES.is_dir(), reason="the vendor contracts are not on this machine")
    def test_is_exactly_what_the_tool_makes_from_the_vendor_files(self, tmp_path: Path) -> None:
        run_contract_tool("mailchimp", SOURCES, tmp_path)
        assert (tmp_path / CONTRACT.name).read_bytes() == CONTRACT.read_bytes()


class TestRoutes:
    def test_every_route_is_an_operation_of_the_contract_and_every_operation_is_served(
        self, sandbox: Sandbox
    ) -> None:
        served = {
            (method, route.path)
            for route in sandbox.mailchimp_app.routes
            if isinstance(route, Route) and not route.path.startswith("/_sandbox")
            for method in route.methods or ()
            if method != "HEAD"
        }
        assert served == set(load_contract().operations)

    def test_authentication_schemes_come_from_the_contract(self) -> None:
        assert load_contract().auth_schemes == {"basic", "bearer"}


class TestParameters:
    async def test_search_members_without_query_is_a_problem(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        body = problem_of(await mailchimp.get("/3.0/search-members"), 400)
        assert fields_of(body) == ["query"]

    async def test_an_undeclared_parameter_is_refused_not_ignored(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        """A misspelt ``exclude_field`` would otherwise pass silently."""
        params = {"query": JONAS.email, "exclude_field": "full_search"}
        body = problem_of(await mailchimp.get("/3.0/search-members", params=params), 400)
        assert fields_of(body) == ["exclude_field"]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"count": "ten"}, "count"),
            ({"count": "1001"}, "count"),
            ({"status": "gone"}, "status"),
            ({"offset": "1", "offset ": "2"}, "offset "),
        ],
    )
    async def test_values_are_held_to_their_declared_type_bounds_and_enums(
        self, mailchimp: httpx.AsyncClient, params: dict[str, str], field: str
    ) -> None:
        path = f"/3.0/lists/{MAILCHIMP_LIST_ID}/members"
        body = problem_of(await mailchimp.get(path, params=params), 400)
        assert field in fields_of(body)

    async def test_a_parameter_given_twice_is_refused(self, mailchimp: httpx.AsyncClient) -> None:
        query: list[tuple[str, str | int | float | bool | None]] = [
            ("query", JONAS.email),
            ("query", MARIA.email),
        ]
        body = problem_of(await mailchimp.get("/3.0/search-members", params=query), 400)
        assert fields_of(body) == ["query"]

    async def test_a_declared_parameter_the_sandbox_does_not_act_on_is_501(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        """No test passes on a filter that never ran."""
        path = f"/3.0/lists/{MAILCHIMP_LIST_ID}/members"
        body = problem_of(await mailchimp.get(path, params={"sort_field": "last_changed"}), 501)
        assert "sort_field" in body["detail"]


class TestBodies:
    async def test_a_status_outside_the_enum_changes_nothing(
        self, sandbox: Sandbox, mailchimp: httpx.AsyncClient
    ) -> None:
        body = problem_of(await mailchimp.patch(MARIA_PATH, json={"status": "gone"}), 400)
        assert fields_of(body) == ["status"]
        assert "subscribed" in body["errors"][0]["message"]
        assert sandbox.mailchimp.get(MARIA.email) is not None
        assert sandbox.mailchimp.get(MARIA.email).status == "subscribed"  # type: ignore[union-attr]
        assert sandbox.mailchimp.calls.effects("member_updated") == 0

    @pytest.mark.parametrize(
        ("method", "path", "payload", "field"),
        [
            ("PUT", MARIA_PATH, {"email_address": MARIA.email}, ""),
            ("PUT", MARIA_PATH, {"status_if_new": "subscribed"}, ""),
            ("POST", MEMBERS_PATH, {"status": "pending"}, "email_address"),
            ("PATCH", MARIA_PATH, {"merge_fields": ["FNAME"]}, "merge_fields"),
            ("PATCH", MARIA_PATH, {"vip": "yes"}, "vip"),
            ("PATCH", MARIA_PATH, {"timestamp_opt": "yesterday"}, "timestamp_opt"),
        ],
    )  # fmt: skip
    async def test_a_body_that_breaks_its_schema_is_an_invalid_resource(
        self,
        mailchimp: httpx.AsyncClient,
        method: str,
        path: str,
        payload: dict[str, Any],
        field: str,
    ) -> None:
        response = await mailchimp.request(method, path, json=payload)
        body = problem_of(response, 400)
        assert body["title"] == "Invalid Resource"
        assert field in fields_of(body)

    async def test_a_body_that_is_not_json_is_a_parse_error(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        response = await mailchimp.patch(MARIA_PATH, content=b'{"status": ')
        assert problem_of(response, 400)["title"] == "JSON Parse Error"

    async def test_a_required_body_that_is_missing_is_refused(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        assert problem_of(await mailchimp.patch(MARIA_PATH), 400)["title"] == "Invalid Resource"

    async def test_a_valid_body_in_mailchimps_timestamp_forms_is_taken(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        payload = {"timestamp_opt": "2026-03-05 10:00:00", "merge_fields": {"FNAME": "Marie"}}
        response = await mailchimp.patch(MARIA_PATH, json=payload)
        assert response.status_code == 200
        assert response.json()["merge_fields"]["FNAME"] == "Marie"

    async def test_a_body_on_an_operation_without_one_is_ignored(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        """Mailchimp's own client sends ``null`` with delete-permanent."""
        response = await mailchimp.post(f"{MARIA_PATH}/actions/delete-permanent", content=b"null")
        assert response.status_code == 204


class TestAnswers:
    @pytest.mark.parametrize(
        ("template", "path", "params"),
        [
            ("/3.0/ping", "/3.0/ping", {}),
            ("/3.0/lists", "/3.0/lists", {}),
            ("/3.0/lists/{list_id}", f"/3.0/lists/{MAILCHIMP_LIST_ID}", {}),
            ("/3.0/lists/{list_id}/members", f"/3.0/lists/{MAILCHIMP_LIST_ID}/members", {}),
            (MEMBER, MARIA_PATH, {}),
            ("/3.0/search-members", "/3.0/search-members", {"query": JONAS.email}),
        ],
    )
    async def test_each_read_answers_in_the_contracts_shape(
        self, mailchimp: httpx.AsyncClient, template: str, path: str, params: dict[str, str]
    ) -> None:
        response = await mailchimp.get(path, params=params)
        assert response.status_code == 200
        validator = load_contract().answer_validator("GET", template, "200")
        assert [e.message for e in validator.iter_errors(response.json())] == []

    async def test_errors_answer_with_the_contracts_problem_document(
        self, mailchimp: httpx.AsyncClient
    ) -> None:
        response = await mailchimp.get("/3.0/search-members")
        validator = load_contract().answer_validator("GET", "/3.0/search-members", "default")
        assert [e.message for e in validator.iter_errors(response.json())] == []
        assert validator.is_valid({"title": "incomplete"}) is False
