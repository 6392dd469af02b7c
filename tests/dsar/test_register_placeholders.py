"""`dsar register check` refuses a register that still carries a placeholder."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dsar.cli import app
from tests.conftest import LUMA_FLUX

runner = CliRunner()


def test_check_fails_on_a_placeholder_anywhere(tmp_path: Path) -> None:
    """A placeholder, even in a comment, fails the check with exit 2 and its line."""
    text = LUMA_FLUX.read_text(encoding="utf-8").replace(
        "  timezone: America/Los_Angeles\n",
        "  timezone: America/Los_Angeles  # PLACEHOLDER - confirm\n",
    )
    path = tmp_path / "luma-flux.yaml"
    path.write_text(text, encoding="utf-8")
    line = 1 + text.splitlines().index("  timezone: America/Los_Angeles  # PLACEHOLDER - confirm")
    result = runner.invoke(app, ["register", "check", str(path), "--json"])
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    assert (payload["ok"], payload["location"]) == (False, f"line {line}")
    assert "PLACEHOLDER" in payload["reason"]


def test_shipped_luma_flux_register_passes_the_check() -> None:
    """The shipped register says plainly where the policy is silent, and passes."""
    result = runner.invoke(app, ["register", "check", str(LUMA_FLUX), "--json"])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["ok"] is True
    assert payload["applicability"]["laws"] == ["ccpa", "vcdpa", "cpa"]
    assert "Luma-Flux" in payload["applicability"]["asserted_by"]
