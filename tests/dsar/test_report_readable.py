"""The report's data section in the shapes people know (Art. 12(1)); data.json stays complete."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dsar.enums import RequestKind
from dsar.export import ExportedRecord, SourceResult, build_package, readable_categories
from dsar.register import register_for

#: A customer and an order as Shopify's REST Admin API writes them (trimmed).
CUSTOMER: dict[str, Any] = {
    "id": 7000000000001,
    "email": "maria.muster@example.com",
    "first_name": "Maria",
    "last_name": "Muster",
    "phone": "+436601234567",
    "created_at": "2023-02-14T09:30:00Z",
    "state": "enabled",
    "verified_email": True,
    "multipass_identifier": None,
    "tax_exempt": False,
    "tax_exemptions": [],
    "note": None,
    "email_marketing_consent": {
        "state": "subscribed",
        "opt_in_level": "single_opt_in",
        "consent_updated_at": "2023-02-14T09:30:00Z",
    },
    "admin_graphql_api_id": "gid://shopify/Customer/7000000000001",
}
ORDER: dict[str, Any] = {
    "id": 5000000000001,
    "admin_graphql_api_id": "gid://shopify/Order/5000000000001",
    "name": "#1001",
    "order_number": 1001,
    "email": "maria.muster@example.com",
    "browser_ip": "203.0.113.30",
    "cart_token": "c1-7a8b9c0d",
    "checkout_token": "d2-1e2f3a4b",
    "created_at": "2024-03-12T18:04:00+01:00",
    "currency": "EUR",
    "subtotal_price": "54.70",
    "total_price": "59.60",
    "total_tax": "9.93",
    "financial_status": "paid",
    "fulfillment_status": "fulfilled",
    "payment_gateway_names": ["paypal"],
    "shipping_lines": [{"title": "Standard", "code": "STANDARD", "price": "4.90"}],
    "shipping_address": {
        "first_name": "Maria",
        "last_name": "Muster",
        "address1": "Mariahilfer Straße 1",
        "address2": None,
        "city": "Wien",
        "zip": "1060",
        "country": "Austria",
        "country_code": "AT",
    },
    "line_items": [
        {"id": 1, "title": "Night Cream 50 ml", "quantity": 1, "price": "34.90", "sku": "S-1"},
        {"id": 2, "title": "Hand Balm 75 ml", "quantity": 2, "price": "9.90", "sku": "S-2"},
    ],
}
TECHNICAL_NAMES = (
    "admin_graphql_api_id", "cart_token", "checkout_token", "browser_ip",
    "multipass_identifier", "tax_exemptions", "verified_email", "gid://",
)  # fmt: skip


def _package(tmp_path: Path, language: str) -> tuple[str, str]:
    records = (
        ExportedRecord("customer_account", "shopify", CUSTOMER),
        ExportedRecord("orders", "shopify", ORDER),
    )
    package = build_package(
        request_id="req15",
        kind=RequestKind.ACCESS,
        language=language,
        register=register_for("lunexxa"),
        results=[SourceResult("shopify", "exported", records)],
        out_dir=tmp_path,
        now=datetime(2026, 12, 4, 10, 0, tzinfo=UTC),
    )
    with zipfile.ZipFile(package.path) as archive:
        return archive.read("report.html").decode(), archive.read("data.json").decode()


class TestReadableReport:
    def test_technical_fields_stay_in_data_json_and_out_of_the_report(self, tmp_path: Path) -> None:
        """API ids, tokens and internal flags are in data.json, never in report.html."""
        html, data = _package(tmp_path, "en")
        for name in TECHNICAL_NAMES:
            assert name in data
            assert name not in html, name
        assert "c1-7a8b9c0d" not in html
        assert "203.0.113.30" not in html

    @pytest.mark.parametrize(
        ("language", "expected"),
        [
            ("en", ["Order #1001 · 12 March 2024", "1 × Night Cream 50 ml — 34.90 EUR",
                    "2 × Hand Balm 75 ml — 9.90 EUR", "Total", "59.60 EUR", "Payment method",
                    "PayPal", "Delivery address", "Mariahilfer Straße 1", "1060 Wien",
                    "Shipping", "4.90 EUR", "E-mail marketing",
                    "subscribed (since 14 February 2023)"]),
            ("de", ["Bestellung #1001 · 12. März 2024", "1 × Night Cream 50 ml — 34,90 EUR",
                    "Gesamt", "59,60 EUR", "Zahlungsart", "Lieferadresse", "Zwischensumme",
                    "54,70 EUR", "Bestellungen", "Kundenkonto", "E-Mail-Werbung",
                    "angemeldet (seit 14. Februar 2023)"]),
        ],
    )  # fmt: skip
    def test_an_order_reads_as_number_date_items_amounts_payment_and_address(
        self, tmp_path: Path, language: str, expected: list[str]
    ) -> None:
        """An order is shown the way its confirmation shows it, in the person's language."""
        html, _ = _package(tmp_path, language)
        for text in expected:
            assert text in html, text

    def test_a_profile_reads_as_name_contact_then_consents(self) -> None:
        """Name first, then contact, then consents; empty fields are left out."""
        account = ExportedRecord("customer_account", "shopify", CUSTOMER)
        (view,) = readable_categories(
            [SourceResult("shopify", "exported", (account,))], language="en", names={}
        )
        (card,) = view.cards
        labels = [line.label for line in card.lines]
        assert labels[:3] == ["Name", "E-mail", "Phone"]
        assert labels.index("E-mail marketing") < labels.index("Created on")
        assert "Note" not in labels
        assert card.lines[0].values == ("Maria Muster",)

    def test_the_csv_files_stay_complete(self, tmp_path: Path) -> None:
        """The CSV of orders still has every exported column, technical ones included."""
        records = (ExportedRecord("orders", "shopify", ORDER),)
        package = build_package(
            request_id="req15",
            kind=RequestKind.ACCESS,
            language="en",
            register=register_for("lunexxa"),
            results=[SourceResult("shopify", "exported", records)],
            out_dir=tmp_path,
            now=datetime(2026, 12, 4, 10, 0, tzinfo=UTC),
        )
        with zipfile.ZipFile(package.path) as archive:
            header = archive.read("orders.csv").decode().splitlines()[0]
            data = json.loads(archive.read("data.json"))
        for column in ("admin_graphql_api_id", "cart_token", "browser_ip"):
            assert column in header
        assert data["sources"][0]["records_by_category"]["orders"][0]["cart_token"] == "c1-7a8b9c0d"
