"""The register's texts in the person's language: the German report quotes no English text,
and `dsar register check` reports a text left untranslated."""

from __future__ import annotations

import html
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from dsar.cli import app
from dsar.enums import RequestKind
from dsar.export import build_package
from dsar.register import Translated, load_register, missing_translations, register_for
from tests.conftest import LUNEXXA

runner = CliRunner()


def _german_report(tmp_path: Path) -> str:
    package = build_package(
        request_id="req15",
        kind=RequestKind.ACCESS,
        language="de",
        register=register_for("lunexxa"),
        results=[],
        out_dir=tmp_path,
        now=datetime(2026, 12, 4, 10, 0, tzinfo=UTC),
    )
    with zipfile.ZipFile(package.path) as archive:
        return html.unescape(archive.read("report.html").decode())


class TestRegisterLanguages:
    def test_the_german_report_has_no_english_register_text(self, tmp_path: Path) -> None:
        """Every purpose, category, recipient and retention text appears in German only."""
        page = _german_report(tmp_path)
        register = register_for("lunexxa")
        entries: list[Translated] = [
            *register.categories, *register.purposes, *register.recipients,
            *register.retention_exceptions,
        ]  # fmt: skip
        compared = 0
        for entry in entries:
            for name in entry.TRANSLATABLE:
                english, german = str(getattr(entry, name)), entry.text(name, "de")
                if english in ("data subject", "none") or english == german:
                    continue
                compared += 1
                assert english not in page, f"{type(entry).__name__}.{name}: {english}"
        assert compared > 80
        assert "Art. 6 Abs. 1 lit. f DSGVO" in page
        assert "Newsletter-Anmeldung" in page

    def test_the_shipped_register_is_fully_translated(self) -> None:
        """Lunexxa answers in German too: no register text lacks its German version."""
        assert missing_translations(register_for("lunexxa")) == []

    def test_register_check_reports_a_missing_translation(self, tmp_path: Path) -> None:
        """One German text removed: `dsar register check` exits 2 naming where it is missing."""
        text = LUNEXXA.read_text(encoding="utf-8")
        removed = '        name: "Newsletter-Anmeldung"\n'
        assert removed in text
        broken = tmp_path / "lunexxa.yaml"
        broken.write_text(text.replace(removed, "", 1), encoding="utf-8")
        load_register(broken)  # still a valid register: only a translation is missing
        result = runner.invoke(app, ["register", "check", str(broken), "--json"])
        assert result.exit_code == 2
        report = json.loads(result.stdout)
        assert report["ok"] is False
        assert report["missing_translations"] == ["categories.4.translations.de.name"]
        result = runner.invoke(app, ["register", "check", str(broken)])
        assert result.exit_code == 2
        assert "missing translation" in result.stderr
        assert "categories.4.translations.de.name" in result.stderr

    def test_a_translation_of_an_unknown_text_is_refused(self, tmp_path: Path) -> None:
        """A typo in a translation's field name is a register error with its location."""
        text = LUNEXXA.read_text(encoding="utf-8").replace(
            '        name: "Newsletter-Anmeldung"\n', '        nmae: "Newsletter-Anmeldung"\n', 1
        )
        broken = tmp_path / "lunexxa.yaml"
        broken.write_text(text, encoding="utf-8")
        result = runner.invoke(app, ["register", "check", str(broken)])
        assert result.exit_code == 2
        assert "translations.de.nmae" in result.stderr
