"""Verification levels (11 CCR §§ 7060-7062) and authorized agents (§ 7063)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from dsar.enums import RequestKind
from dsar.usverify import Level, required_level

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    from dsar.cli import app

    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def submit(kind: str = "access", controller: str = "luma-flux", residence: str = "US-CA") -> str:
    code, out, err = run(
        "request", "submit", "--controller", controller, "--kind", kind,
        "--email", "consumer@example.com", "--residence", residence, "--json",
    )  # fmt: skip
    assert code == 0, err
    return str(json.loads(out)["id"])


def shown(request_id: str) -> dict[str, Any]:
    _code, out, _err = run("request", "show", request_id, "--json")
    return dict(json.loads(out))


class TestLevels:
    @pytest.mark.parametrize(
        ("kind", "specific", "sensitive", "level", "points", "declaration"),
        [
            (RequestKind.OPT_OUT, True, False, Level.NONE, 0, False),
            (RequestKind.LIMIT_SENSITIVE, True, True, Level.NONE, 0, False),
            (RequestKind.ACCESS, False, False, Level.REASONABLE, 2, False),
            (RequestKind.ACCESS, True, False, Level.REASONABLY_HIGH, 3, True),
            (RequestKind.ERASURE, True, False, Level.REASONABLE, 2, False),
            (RequestKind.ERASURE, True, True, Level.REASONABLY_HIGH, 3, True),
            (RequestKind.RECTIFICATION, True, False, Level.REASONABLE, 2, False),
        ],
    )
    def test_level_by_kind_and_sensitivity(
        self,
        kind: RequestKind,
        specific: bool,
        sensitive: bool,
        level: Level,
        points: int,
        declaration: bool,
    ) -> None:
        need = required_level(kind, specific_pieces=specific, sensitive=sensitive)
        assert (need.level, need.data_points, need.declaration) == (level, points, declaration)


class TestVerifyCommand:
    def test_specific_pieces_need_three_points_and_a_declaration(self) -> None:
        request_id = submit("access")
        code, _out, err = run(
            "request", "verify", request_id, "--data-points", "3", "--how", "order numbers"
        )
        assert code == 2
        assert "penalty of perjury" in err
        code, _out, err = run(
            "request", "verify", request_id, "--data-points", "2", "--declaration",
            "--how", "order numbers",
        )  # fmt: skip
        assert code == 2
        assert "at least 3 matching data points" in err
        assert shown(request_id)["verified"] is False
        code, out, err = run(
            "request", "verify", request_id, "--data-points", "3", "--declaration",
            "--how", "order number, last order total, phone", "--json",
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(out)["level"] == "reasonably_high"
        assert shown(request_id)["verified"] is True

    def test_categories_only_need_two_points(self) -> None:
        request_id = submit("access")
        code, out, err = run(
            "request", "verify", request_id, "--data-points", "2", "--categories-only",
            "--how", "order number, phone", "--json",
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(out)["level"] == "reasonable"

    def test_opt_out_needs_no_verification(self) -> None:
        request_id = submit("opt-out")
        code, _out, err = run("request", "verify", request_id, "--data-points", "3", "--how", "x")
        assert code == 2
        assert "needs no verification" in err

    def test_gdpr_request_is_not_verified_this_way(self) -> None:
        request_id = submit("access", controller="lunexxa", residence="AT")
        code, _out, err = run("request", "verify", request_id, "--data-points", "3", "--how", "x")
        assert code == 2
        assert "not US law" in err


class TestAgents:
    def test_agent_with_signed_permission_is_recorded_and_the_consumer_still_verifies(
        self,
    ) -> None:
        request_id = submit("erasure")
        code, out, err = run(
            "request", "agent", request_id, "--agent", "Privacy Helpers LLC",
            "--permission", "signed permission, scanned, case file 2026-17", "--json",
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(out)["agent"] == "Privacy Helpers LLC"
        payload = shown(request_id)
        assert payload["verified"] is False
        actions = [e["action"] for e in payload["audit"]]
        assert "authorized_agent_recorded" in actions

    def test_agent_without_permission_is_refused(self) -> None:
        request_id = submit("erasure")
        code, _out, err = run(
            "request", "agent", request_id, "--agent", "Someone", "--permission", " "
        )
        assert code == 2
        assert "signed permission" in err
