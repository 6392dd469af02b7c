"""The connector contract: result types, masking reprs, errors, registry and public names."""

from __future__ import annotations

import httpx
import pytest

import connectors
from connectors import (
    CONNECTORS,
    Capability,
    Connector,
    KlaviyoConnector,
    MailchimpConnector,
    Outcome,
    Record,
    ShopifyConnector,
    Subject,
    SubjectData,
    build_connector,
)
from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFound,
    PermanentError,
    ProtocolError,
    TransientError,
    UnknownConnector,
    Unsupported,
    ValidationFailed,
    scrub,
)
from dsar.settings import Settings

EMAIL = "maria.muster@example.com"

pytestmark = pytest.mark.anyio


class TestSubject:
    def test_repr_masks_every_identity(self) -> None:
        """A Subject in a log line or traceback shows counts, never addresses or names."""
        subject = Subject(
            emails=(EMAIL,),
            phones=("+49 170 1234567",),
            customer_ids={"shopify": "42"},
            name="Maria",
        )
        text = repr(subject) + str(subject)
        for secret in (EMAIL, "1234567", "Maria", "42"):
            assert secret not in text
        assert "shopify" in text

    def test_primary_email_is_the_first(self) -> None:
        """The first address given is the primary one; none gives None."""
        assert Subject(emails=(EMAIL, "b@example.com")).primary_email == EMAIL
        assert Subject().primary_email is None

    def test_identities_are_deduplicated_and_immutable(self) -> None:
        """Blank and repeated identities are dropped; customer ids cannot be changed later."""
        subject = Subject(emails=(EMAIL, " ", EMAIL), customer_ids={"shopify": "1"})
        assert subject.emails == (EMAIL,)
        with pytest.raises(TypeError):
            subject.customer_ids["shopify"] = "2"  # type: ignore[index]


class TestResults:
    def test_record_repr_hides_data(self) -> None:
        """A Record's repr names category and source, never the person's values."""
        record = Record("customer_account", "shopify", {"email": EMAIL})
        assert EMAIL not in repr(record)
        assert "customer_account" in repr(record)

    def test_by_category_groups_in_first_seen_order(self) -> None:
        """Export data is grouped per category, keeping each category's order."""
        data = SubjectData(
            "shopify",
            (
                Record("orders", "shopify", {"id": 1}),
                Record("addresses", "shopify", {"id": 9}),
                Record("orders", "shopify", {"id": 2}),
            ),
        )
        assert data.by_category() == {"orders": [{"id": 1}, {"id": 2}], "addresses": [{"id": 9}]}
        assert data.categories == ("orders", "addresses")

    def test_outcome_repr_is_safe(self) -> None:
        """Outcomes hold ids and counts only, so their repr can be logged."""
        outcome = Outcome(
            "klaviyo", Capability.ERASE, complete=False, count=1, job_ref="klaviyo-deletion:01A"
        )
        assert "klaviyo-deletion:01A" in repr(outcome)
        assert "@" not in repr(outcome)


class TestErrors:
    @pytest.mark.parametrize(
        ("cls", "parent"),
        [
            (TransientError, ConnectorError),
            (PermanentError, ConnectorError),
            (AuthError, PermanentError),
            (NotFound, PermanentError),
            (ValidationFailed, PermanentError),
            (ProtocolError, PermanentError),
            (Unsupported, ConnectorError),
            (UnknownConnector, Unsupported),
        ],
    )
    def test_tree(self, cls: type[ConnectorError], parent: type[ConnectorError]) -> None:
        """Each error sits where the module docstring draws it."""
        assert issubclass(cls, parent)

    @pytest.mark.parametrize(
        "text",
        [
            f"{EMAIL} is taken",
            "Maria.Muster+shop@Example.CO.UK exists",
            "query=email:maria.muster%40example.com",
            "call +49 (170) 123-4567 now",
            "phone 030 12345678 invalid",
        ],
    )
    def test_scrub_removes_contact_data(self, text: str) -> None:
        """E-mail-like and phone-like strings never survive into a message."""
        cleaned = scrub(text)
        assert "@" not in cleaned
        assert "%40" not in cleaned
        assert "4567" not in cleaned

    def test_scrub_keeps_statuses_and_counts(self) -> None:
        """Short numbers (statuses, counts, years) are not mistaken for phones."""
        assert scrub("HTTP 503 after 3 tries in 2026") == "HTTP 503 after 3 tries in 2026"

    def test_message_names_processor_and_status(self) -> None:
        """str(error) is '<processor>: HTTP <status>: <detail>', scrubbed."""
        error = ValidationFailed(f"{EMAIL} invalid", processor="shopify", status=422)
        assert str(error) == "shopify: HTTP 422: [redacted] invalid"


class TestRegistry:
    @pytest.mark.parametrize(
        ("name", "cls"),
        [
            ("shopify", ShopifyConnector),
            ("klaviyo", KlaviyoConnector),
            ("mailchimp", MailchimpConnector),
        ],
    )
    async def test_builds_each_connector_from_settings(self, name: str, cls: type) -> None:
        """Each register name builds its connector class, satisfying the Connector protocol."""
        connector = build_connector(
            name, Settings(), transport=httpx.MockTransport(lambda r: httpx.Response(500))
        )
        try:
            assert isinstance(connector, cls)
            assert isinstance(connector, Connector)
            assert connector.name == name
            assert CONNECTORS[name] is cls
        finally:
            await connector.aclose()

    async def test_credentials_come_from_settings(self) -> None:
        """The connector sends the token from settings."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            empty = {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
            return httpx.Response(200, json={"data": {"customers": empty}})

        settings = Settings(shopify_url="https://shop.test", shopify_token="shpat_from_settings")
        async with build_connector(
            "shopify", settings, transport=httpx.MockTransport(handler)
        ) as shop:
            await shop.locate(Subject(emails=(EMAIL,)))
        assert seen[0].headers["X-Shopify-Access-Token"] == "shpat_from_settings"
        assert seen[0].url.host == "shop.test"

    def test_unknown_name_is_a_clear_error(self) -> None:
        """A name no connector serves raises UnknownConnector listing the known ones."""
        with pytest.raises(UnknownConnector, match="klaviyo, mailchimp, shopify"):
            build_connector("stripe", Settings())


class TestPublicNames:
    def test_all_is_sorted_and_complete(self) -> None:
        """__all__ is sorted (constants, classes, functions) and every name exists."""

        def key(name: str) -> tuple[int, str]:
            kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
            return kind, name

        assert connectors.__all__ == sorted(connectors.__all__, key=key)
        assert all(hasattr(connectors, name) for name in connectors.__all__)
        assert {"Connector", "Subject", "Outcome", "ConnectorError", "build_connector"} <= set(
            connectors.__all__
        )
