"""Access and portability packages: their contents, the readable report, and download links."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import stat
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, select
from structlog.testing import capture_logs

from dsar.enums import RequestKind
from dsar.errors import InputError, NotFoundError
from dsar.export import (
    DOWNLOAD_GONE,
    ExportedRecord,
    PackageFile,
    SourceResult,
    build_package,
    download_url,
    issue_download,
    resolve_download,
    safe_filename,
)
from dsar.models import Export
from dsar.register import Register, load_register
from dsar.settings import get_settings
from tests.conftest import LUNEXXA
from tests.factories import make_request

NOW = datetime(2026, 3, 5, 10, 30, tzinfo=UTC)
EMAIL = "mia.muster@example.com"
INJECTION = '<script>alert("x")</script>"><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def register() -> Register:
    return load_register(LUNEXXA)


def _rec(category: str, source: str, **data: Any) -> ExportedRecord:
    return ExportedRecord(category=category, source=source, data=data)


def _results() -> list[SourceResult]:
    """Shopify holds an account and two orders, Klaviyo a subscription, Mailchimp failed."""
    return [
        SourceResult(
            recipient="shopify",
            status="exported",
            records=(
                _rec(
                    "customer_account",
                    "shopify",
                    id=7,
                    email=EMAIL,
                    default_address={"city": "Wien", "zip": "1210"},
                    tags=["vip", "newsletter"],
                    verified=True,
                ),
                _rec("order_records", "shopify", id=1001, total="-5.00", note=INJECTION),
                _rec("order_records", "shopify", id=1002, total="49.90", currency="EUR"),
            ),
        ),
        SourceResult(
            recipient="klaviyo",
            status="exported",
            records=(_rec("newsletter_subscription", "klaviyo", email=EMAIL, consent="yes"),),
        ),
        SourceResult(recipient="newsletter", status="failed", records=(), note="timed out"),
    ]


def _build(
    register: Register,
    out_dir: Path,
    *,
    kind: RequestKind = RequestKind.ACCESS,
    language: str = "en",
    results: Sequence[SourceResult] | None = None,
    notified: Sequence[str] = (),
) -> PackageFile:
    return build_package(
        request_id="req123",
        kind=kind,
        language=language,
        register=register,
        results=_results() if results is None else results,
        out_dir=out_dir,
        now=NOW,
        notified=notified,
    )


def _member(package: PackageFile, name: str) -> str:
    with zipfile.ZipFile(package.path) as archive:
        return archive.read(name).decode("utf-8")


def _csv(package: PackageFile, name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(_member(package, name))))


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class _Page(HTMLParser):
    """Walks the report: every tag seen, all text, and the text of each section by id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.headings: list[str] = []
        self.sections: dict[str, list[str]] = {}
        self._open: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "section":
            self._open.append(dict(attrs).get("id") or "")
            self.sections[self._open[-1]] = []
        if tag == "h2":
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self._open:
            self._open.pop()
        if tag == "h2" and self._heading is not None:
            self.headings.append(_squash("".join(self._heading)))
            self._heading = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._heading is not None:
            self._heading.append(data)
        for section in self._open:
            self.sections[section].append(data)

    def all_text(self) -> str:
        return _squash(" ".join(self.text))

    def section(self, key: str) -> str:
        return _squash(" ".join(self.sections[f"recipient-{key}"]))


def _page(package: PackageFile) -> _Page:
    page = _Page()
    page.feed(_member(package, "report.html"))
    page.close()
    return page


class TestSafeFilename:
    @pytest.mark.parametrize(
        "name", ["../etc/passwd", "/abs", "a\\b", "C:x", "x:y", "a\0b", "..", ".", "", "x" * 201]
    )
    def test_names_that_leave_the_folder_are_rejected(self, name: str) -> None:
        """Separators, NUL, dot-only names, drive letters and empty names raise InputError."""
        with pytest.raises(InputError):
            safe_filename(name)

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("order_records.csv", "order_records.csv"),
            ("a b(1).csv", "a_b_1_.csv"),
            ("Bestellungen-ä.csv", "Bestellungen-_.csv"),
            ("ab:c", "ab_c"),
        ],
    )
    def test_other_characters_are_replaced_by_underscore(self, name: str, expected: str) -> None:
        """Characters outside [A-Za-z0-9._-] become '_'; safe names pass unchanged."""
        assert safe_filename(name) == expected

    @given(st.text(max_size=60))
    def test_any_accepted_name_is_a_plain_file_name(self, name: str) -> None:
        """Whatever comes in, what comes out is one path component of safe characters."""
        try:
            result = safe_filename(name)
        except InputError:
            return
        assert re.fullmatch(r"[A-Za-z0-9._-]+", result)
        assert result not in {".", ".."}
        assert Path(result).name == result


class TestAccessPackage:
    def test_zip_holds_exactly_report_data_and_one_csv_per_category(
        self, register: Register, tmp_path: Path
    ) -> None:
        """An access package is report.html, data.json and {category}.csv for each category."""
        package = _build(register, tmp_path / "exports")
        expected = {
            "report.html",
            "data.json",
            "customer_account.csv",
            "order_records.csv",
            "newsletter_subscription.csv",
        }
        with zipfile.ZipFile(package.path) as archive:
            assert set(archive.namelist()) == expected
        assert set(package.files) == expected
        assert package.path.name == "req123-access.zip"

    def test_package_file_reports_true_hash_and_size(
        self, register: Register, tmp_path: Path
    ) -> None:
        """sha256 and size describe the bytes on disk, so the download can be checked."""
        package = _build(register, tmp_path / "exports")
        content = package.path.read_bytes()
        assert package.sha256 == hashlib.sha256(content).hexdigest()
        assert package.size == len(content)

    def test_package_is_private_and_leaves_no_temporary_file(
        self, register: Register, tmp_path: Path
    ) -> None:
        """The exports folder is 0700 and only the finished zip remains in it."""
        out_dir = tmp_path / "exports"
        package = _build(register, out_dir)
        assert stat.S_IMODE(out_dir.stat().st_mode) == 0o700
        assert [p.name for p in out_dir.iterdir()] == [package.path.name]

    def test_rebuilding_replaces_the_package(self, register: Register, tmp_path: Path) -> None:
        """A second build for the same request replaces the first one in place."""
        first = _build(register, tmp_path)
        second = _build(register, tmp_path, results=_results()[:1])
        assert first.path == second.path
        assert first.sha256 != second.sha256
        assert second.sha256 == hashlib.sha256(second.path.read_bytes()).hexdigest()

    def test_data_json_round_trips_every_record(self, register: Register, tmp_path: Path) -> None:
        """data.json holds each source's status, note and records grouped by category."""
        document = json.loads(_member(_build(register, tmp_path), "data.json"))
        assert document["request_id"] == "req123"
        assert document["generated_at"] == NOW.isoformat()
        assert document["controller"]["key"] == "lunexxa"
        for result, source in zip(_results(), document["sources"], strict=True):
            expected: dict[str, list[Any]] = {}
            for record in result.records:
                expected.setdefault(record.category, []).append(dict(record.data))
            assert source == {
                "recipient": result.recipient,
                "status": result.status,
                "note": result.note,
                "records_by_category": expected,
            }

    def test_csv_header_is_source_then_sorted_union_of_flattened_keys(
        self, register: Register, tmp_path: Path
    ) -> None:
        """Columns are `source` plus every record's keys, sorted; one row per record."""
        package = _build(register, tmp_path)
        orders = _csv(package, "order_records.csv")
        assert orders[0] == ["source", "currency", "id", "note", "total"]
        assert len(orders) == 1 + 2
        assert orders[2] == ["shopify", "EUR", "1002", "", "49.90"]
        account = _csv(package, "customer_account.csv")
        assert account[0] == [
            "source",
            "default_address.city",
            "default_address.zip",
            "email",
            "id",
            "tags",
            "verified",
        ]
        assert account[1][1:3] == ["Wien", "1210"]
        assert json.loads(account[1][5]) == ["vip", "newsletter"]
        assert account[1][6] == "true"

    def test_csv_neutralises_spreadsheet_formulas_but_keeps_numbers(
        self, register: Register, tmp_path: Path
    ) -> None:
        """A cell starting with '=' is prefixed with a quote; '-5.00' stays a number."""
        results = [
            SourceResult(
                "shopify",
                "exported",
                (_rec("order_records", "shopify", total="-5.00", note="=HYPERLINK(1)"),),
            )
        ]
        rows = _csv(_build(register, tmp_path, results=results), "order_records.csv")
        assert rows[1] == ["shopify", "'=HYPERLINK(1)", "-5.00"]

    def test_record_field_named_source_is_kept_apart_from_the_source_column(
        self, register: Register, tmp_path: Path
    ) -> None:
        """The system column stays `source`; a field of that name becomes `data.source`."""
        results = [
            SourceResult(
                "shopify",
                "exported",
                (ExportedRecord("order_records", "shopify", {"source": "web", "id": 1}),),
            )
        ]
        rows = _csv(_build(register, tmp_path, results=results), "order_records.csv")
        assert rows == [["source", "data.source", "id"], ["shopify", "web", "1"]]


class TestReport:
    def test_every_register_recipient_appears_with_name_country_and_safeguard(
        self, register: Register, tmp_path: Path
    ) -> None:
        """Art. 15(1)(c), CJEU C-154/21: recipients by identity, with country and safeguard."""
        page = _page(_build(register, tmp_path))
        for recipient in register.recipients:
            section = page.section(recipient.key)
            assert recipient.name in section
            assert recipient.country in section
            assert _squash(recipient.transfer_safeguard) in section
            assert _squash(recipient.address) in section

    def test_exported_data_is_shown_in_its_recipients_section(
        self, register: Register, tmp_path: Path
    ) -> None:
        """Each connector's records appear under that recipient only (their ids, technical,
        stay in data.json)."""
        page = _page(_build(register, tmp_path))
        assert "49.90" in page.section("shopify")
        assert "Wien" in page.section("shopify")
        assert "49.90" not in page.section("klaviyo")
        assert EMAIL in page.section("klaviyo")

    def test_section_says_why_no_data_is_shown(self, register: Register, tmp_path: Path) -> None:
        """Failed, manual and empty recipients each explain the missing copy."""
        results = [
            _results()[0],
            SourceResult("klaviyo", "not_found", ()),
            SourceResult("newsletter", "failed", (), note="timed out"),
        ]
        page = _page(_build(register, tmp_path, results=results))
        assert "could not be retrieved" in page.section("newsletter")
        assert "timed out" in page.section("newsletter")
        assert "no interface we can query" in page.section("amazon_pay")
        assert "No personal data about you was found" in page.section("klaviyo")

    def test_art_15_facts_and_supervisory_authority_appear(
        self, register: Register, tmp_path: Path
    ) -> None:
        """Purposes, legal bases, categories, retention, rights, complaint, source, ADM: (a)–(h)."""
        page = _page(_build(register, tmp_path))
        text = page.all_text()
        authority = register.controller.supervisory_authority
        for fact in (authority.name, authority.address, authority.url):
            assert fact in text
        for purpose in register.purposes:
            assert _squash(purpose.legal_basis) in text
            assert _squash(purpose.retention) in text
        for category in register.categories:
            assert category.name in text
        for article in ("Art. 16", "Art. 17", "Art. 18", "Art. 20", "Art. 21", "Art. 7(3)"):
            assert article in text
        credit_check = register.purpose("credit_check")
        assert _squash(credit_check.source) in text
        assert _squash(credit_check.automated_decision_making) in text
        assert "7 years, counted from the end of the calendar year" in text
        assert register.controller.privacy_email in text
        assert "req123" in text
        assert "2026-03-05 11:30 CET" in text  # generation time in the controller's zone
        assert page.headings == [
            "Where your data is and who receives it",
            "Purposes and legal bases (Art. 15(1)(a) GDPR)",
            "Categories of personal data (Art. 15(1)(b) GDPR)",
            "Recipients (Art. 15(1)(c) and 15(2) GDPR)",
            "How long your data is kept (Art. 15(1)(d) GDPR)",
            "Your rights (Art. 15(1)(e) GDPR)",
            "Your right to complain (Art. 15(1)(f) and Art. 77 GDPR)",
            "Where your data comes from (Art. 15(1)(g) GDPR)",
            "Automated decision-making (Art. 15(1)(h) GDPR)",
            "Contact",
        ]

    def test_notified_recipients_are_named_when_given(
        self, register: Register, tmp_path: Path
    ) -> None:
        """Art. 19 sentence 2: the recipients told of the request are listed by name."""
        page = _page(_build(register, tmp_path, notified=["klaviyo", "paypal"]))
        assert "Recipients informed of your request (Art. 19 GDPR)" in page.headings
        text = page.all_text()
        assert "We informed these recipients of your request: Klaviyo, Inc." in text
        without = _page(_build(register, tmp_path / "other"))
        assert not any("Art. 19" in heading for heading in without.headings)

    def test_markup_in_processor_data_is_escaped(self, register: Register, tmp_path: Path) -> None:
        """HTML from a processor shows as text: no script, no injected element or attribute."""
        page = _page(_build(register, tmp_path))
        assert "script" not in {tag for tag, _ in page.tags}
        assert "img" not in {tag for tag, _ in page.tags}
        assert not any("onerror" in attrs for _, attrs in page.tags)
        assert _squash(INJECTION) in page.all_text()

    def test_report_is_self_contained(self, register: Register, tmp_path: Path) -> None:
        """No scripts, stylesheets or images are fetched: the page opens offline."""
        page = _page(_build(register, tmp_path))
        for tag, attrs in page.tags:
            assert tag not in {"script", "link", "img", "iframe"}
            assert "src" not in attrs
        assert "style" in {tag for tag, _ in page.tags}

    @pytest.mark.parametrize("language", ["de", "de-AT", "DE_de"])
    def test_german_report_uses_german_headings(
        self, register: Register, tmp_path: Path, language: str
    ) -> None:
        """A request in German gets a German report: headings, labels and the lang attribute."""
        page = _page(_build(register, tmp_path, language=language))
        assert ("html", {"lang": "de"}) in page.tags
        assert "Zwecke und Rechtsgrundlagen (Art. 15 Abs. 1 lit. a DSGVO)" in page.headings
        assert "Ihr Beschwerderecht (Art. 15 Abs. 1 lit. f und Art. 77 DSGVO)" in page.headings
        assert not any("Purposes" in heading for heading in page.headings)
        assert "Aktenzeichen der Anfrage" in page.all_text()

    def test_unsupported_language_falls_back_to_english(
        self, register: Register, tmp_path: Path
    ) -> None:
        """Languages without texts get English rather than failing."""
        page = _page(_build(register, tmp_path, language="fr"))
        assert ("html", {"lang": "en"}) in page.tags
        assert "Purposes and legal bases (Art. 15(1)(a) GDPR)" in page.headings


class TestPortabilityPackage:
    def test_only_provided_categories_and_no_report(
        self, register: Register, tmp_path: Path
    ) -> None:
        """Art. 20(1): only data the subject provided, machine-readable; no derived data."""
        results = [
            *_results(),
            SourceResult(
                "shopify",
                "exported",
                (
                    _rec("server_logs", "shopify", path="/cart"),
                    _rec("creditworthiness", "shopify", score=0.7),
                ),
            ),
        ]
        assert not register.category("server_logs").provided_by_subject
        package = _build(register, tmp_path, kind=RequestKind.PORTABILITY, results=results)
        assert package.path.name == "req123-portability.zip"
        assert set(package.files) == {
            "data.json",
            "customer_account.csv",
            "order_records.csv",
            "newsletter_subscription.csv",
        }
        document = json.loads(_member(package, "data.json"))
        categories = {c for s in document["sources"] for c in s["records_by_category"]}
        assert categories == {"customer_account", "order_records", "newsletter_subscription"}
        assert document["kind"] == "portability"


class TestBuildRefusals:
    def test_kinds_other_than_access_and_portability_are_refused(
        self, register: Register, tmp_path: Path
    ) -> None:
        """Only Art. 15 and Art. 20 requests produce a package."""
        with pytest.raises(InputError, match="erasure"):
            _build(register, tmp_path, kind=RequestKind.ERASURE)

    def test_unknown_status_is_refused(self, register: Register, tmp_path: Path) -> None:
        """A status outside exported/not_found/failed is a caller bug, not data."""
        with pytest.raises(InputError, match="status"):
            _build(register, tmp_path, results=[SourceResult("shopify", "done", ())])

    def test_naive_time_is_refused(self, register: Register, tmp_path: Path) -> None:
        """The generation time must carry a zone to be shown correctly."""
        with pytest.raises(InputError, match="timezone"):
            build_package(
                request_id="r",
                kind=RequestKind.ACCESS,
                language="en",
                register=register,
                results=[],
                out_dir=tmp_path,
                now=datetime(2026, 3, 5, 10, 0),  # naive on purpose
            )

    def test_unserialisable_data_is_refused_without_leaving_a_file(
        self, register: Register, tmp_path: Path
    ) -> None:
        """Records must be JSON-serialisable; a refused build writes nothing."""
        results = [SourceResult("shopify", "exported", (_rec("orders", "shopify", x=object()),))]
        with pytest.raises(InputError, match="JSON"):
            _build(register, tmp_path / "exports", results=results)
        assert not (tmp_path / "exports").exists() or not any((tmp_path / "exports").iterdir())


class TestDownloads:
    def _issue(self, session: Session, tmp_path: Path, **kwargs: Any) -> tuple[Export, str]:
        request = make_request(session)
        package = _build(load_register(LUNEXXA), tmp_path)
        export, token = issue_download(
            session, request_id=request.id, package=package, now=NOW, **kwargs
        )
        session.commit()
        return export, token

    def test_only_the_token_hash_is_stored(self, session: Session, tmp_path: Path) -> None:
        """Art. 32: a copy of the database yields no usable link."""
        _, token = self._issue(session, tmp_path)
        assert len(token) >= 43
        stored = session.exec(select(Export)).one()
        assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in json.dumps(stored.model_dump(), default=str)

    def test_issue_uses_settings_for_lifetime_and_limit(
        self, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without explicit values, DSAR_EXPORT_TTL_DAYS and DSAR_EXPORT_MAX_DOWNLOADS apply."""
        monkeypatch.setenv("DSAR_EXPORT_TTL_DAYS", "3")
        monkeypatch.setenv("DSAR_EXPORT_MAX_DOWNLOADS", "2")
        get_settings.cache_clear()
        export, _ = self._issue(session, tmp_path)
        assert export.expires_at == NOW + timedelta(days=3)
        assert export.max_downloads == 2

    def test_download_url_puts_the_token_under_exports(self) -> None:
        """The link is {public_url}/exports/{token}, with no doubled slash."""
        assert download_url("tok", "https://dsar.example") == "https://dsar.example/exports/tok"
        assert download_url("tok", "https://dsar.example/") == "https://dsar.example/exports/tok"

    def test_resolve_counts_downloads_up_to_the_limit(
        self, session: Session, tmp_path: Path
    ) -> None:
        """Each resolve counts one download; after max_downloads the link is gone."""
        export, token = self._issue(session, tmp_path, max_downloads=2)
        counts = [resolve_download(session, token=token, now=NOW).downloads for _ in range(2)]
        session.commit()
        assert counts == [1, 2]
        with pytest.raises(NotFoundError) as gone:
            resolve_download(session, token=token, now=NOW)
        assert str(gone.value) == DOWNLOAD_GONE
        assert session.get(Export, export.id).downloads == 2  # type: ignore[union-attr]

    def test_expired_link_is_gone(self, session: Session, tmp_path: Path) -> None:
        """After ttl_days the link no longer opens the package."""
        _, token = self._issue(session, tmp_path, ttl_days=1)
        assert resolve_download(session, token=token, now=NOW + timedelta(hours=23)).downloads == 1
        with pytest.raises(NotFoundError) as gone:
            resolve_download(session, token=token, now=NOW + timedelta(days=1))
        assert str(gone.value) == DOWNLOAD_GONE

    def test_unknown_expired_and_exhausted_links_fail_alike(
        self, session: Session, tmp_path: Path
    ) -> None:
        """A guesser cannot tell a wrong token from an expired or used-up one."""
        _, expired = self._issue(session, tmp_path, ttl_days=1)
        _, exhausted = self._issue(session, tmp_path / "b", max_downloads=1)
        resolve_download(session, token=exhausted, now=NOW)
        messages = set()
        for token, now in [
            ("guessed-token", NOW),
            ("", NOW),
            ("x" * 5000, NOW),
            (expired, NOW + timedelta(days=2)),
            (exhausted, NOW),
        ]:
            with pytest.raises(NotFoundError) as gone:
                resolve_download(session, token=token, now=now)
            messages.add(str(gone.value))
        assert messages == {DOWNLOAD_GONE}

    def test_vanished_package_file_is_gone(self, session: Session, tmp_path: Path) -> None:
        """A package deleted from disk answers like any other dead link."""
        export, token = self._issue(session, tmp_path)
        Path(export.path).unlink()
        with pytest.raises(NotFoundError, match=DOWNLOAD_GONE):
            resolve_download(session, token=token, now=NOW)

    def test_invalid_lifetime_or_limit_is_refused(self, session: Session, tmp_path: Path) -> None:
        """A link must live at least a day and allow at least one download."""
        with pytest.raises(InputError):
            self._issue(session, tmp_path, ttl_days=0)
        with pytest.raises(InputError):
            self._issue(session, tmp_path, max_downloads=0)

    def test_no_personal_data_or_token_is_logged(self, session: Session, tmp_path: Path) -> None:
        """Log events carry ids and counts only: never the data, the e-mail or the token."""
        with capture_logs() as events:
            _, token = self._issue(session, tmp_path)
            resolve_download(session, token=token, now=NOW)
            with pytest.raises(NotFoundError):
                resolve_download(session, token="guessed", now=NOW)
        assert {e["event"] for e in events} >= {
            "export_package_built",
            "export_issued",
            "export_downloaded",
            "export_refused",
        }
        logged = json.dumps(events, default=str)
        for secret in (token, EMAIL, "Wien", "guessed"):
            assert secret not in logged
