"""Tests for the processing register: the shipped registers, validation errors, and lookups."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from dsar.enums import RecipientRole, Regime
from dsar.errors import InputError, NotFoundError, RegisterError
from dsar.register import (
    KNOWN_CONNECTORS,
    RetentionException,
    discover_registers,
    load_register,
    parse_duration,
    parse_register,
)

ROOT = Path(__file__).resolve().parents[2]
REGISTERS = ROOT / "deployments" / "registers"
FIXTURES = ROOT / "tests" / "data" / "registers"
LUNEXXA = load_register(REGISTERS / "lunexxa.yaml")
LUMA_FLUX_PATH = REGISTERS / "luma-flux.yaml"
LUMA_FLUX = load_register(LUMA_FLUX_PATH)
MINIMAL = (FIXTURES / "minimal.yaml").read_text(encoding="utf-8")


def _retention(period: str, *, from_year_end: bool = False) -> RetentionException:
    return RetentionException(
        category="orders",
        ground="Art. 17(3)(b)",
        law="§ 132 BAO",
        period=period,
        description="Accounting records.",
        from_year_end=from_year_end,
    )


class TestLunexxaRegister:
    def test_controller_is_the_vienna_shop_under_gdpr(self) -> None:
        """The controller, its time zone and its regime come from §1.2 of the policy."""
        controller = LUNEXXA.controller
        assert controller.key == "lunexxa"
        assert controller.privacy_email == "support@lunexxa.com"
        assert (controller.country, controller.subdivision) == ("AT", "9")
        assert controller.timezone == "Europe/Vienna"
        assert controller.regime is Regime.GDPR
        assert controller.regimes == (Regime.GDPR,)
        assert controller.supervisory_authority.name == "Österreichische Datenschutzbehörde"

    def test_every_recipient_named_in_the_policy_is_present(self) -> None:
        """Art. 15(1)(c) names recipients by identity: every one in the policy is present."""
        assert {r.key for r in LUNEXXA.recipients} == {
            "shopify",
            "shopify_payments",
            "klaviyo",
            "newsletter",
            "shipping_partner",
            "amazon_pay",
            "google_pay",
            "klarna",
            "paypal",
            "sofort",
            "google_ads",
            "endereco",
        }
        names = " | ".join(r.name for r in LUNEXXA.recipients)
        for fragment in (
            "Shopify",
            "Shopify Payments",
            "Klaviyo",
            "Amazon Pay",
            "Google Pay",
            "Klarna",
            "PayPal",
            "SOFORT",
            "Google Ads",
            "Endereco",
            "Shipping partner",
        ):
            assert fragment in names

    def test_every_category_named_in_the_policy_is_present(self) -> None:
        """Art. 15(1)(b): each data category the policy describes has an entry."""
        assert {c.key for c in LUNEXXA.categories} == {
            "customer_account",
            "order_records",
            "payment_data",
            "delivery_address",
            "newsletter_subscription",
            "newsletter_tracking",
            "comments",
            "server_logs",
            "shop_cookies",
            "image_uploads",
            "contact_enquiries",
            "creditworthiness",
            "advertising_ids",
            "address_validation",
        }

    def test_processors_with_an_api_use_their_connector_and_the_rest_are_manual(self) -> None:
        """Only Shopify, Klaviyo and the Mailchimp-API list have connectors; others get notices."""
        connectors = {r.key: r.connector for r in LUNEXXA.recipients if r.connector != "manual"}
        assert connectors == {"shopify": "shopify", "klaviyo": "klaviyo", "newsletter": "mailchimp"}

    def test_direct_marketing_recipients_are_flagged(self) -> None:
        """An objection to direct marketing (Art. 21(3)) must reach every marketing recipient."""
        marketing = {r.key for r in LUNEXXA.recipients if r.marketing}
        assert marketing == {"shopify", "klaviyo", "newsletter", "google_ads"}

    def test_payment_providers_are_independent_controllers(self) -> None:
        """Klarna, PayPal, Amazon Pay and the like keep their own records under their own duties."""
        for key in ("amazon_pay", "google_pay", "klarna", "paypal", "sofort", "shopify_payments"):
            assert LUNEXXA.recipient(key).role is RecipientRole.INDEPENDENT_CONTROLLER

    def test_third_country_transfers_name_their_safeguard(self) -> None:
        """Art. 15(2): transfers to Canada and the USA rest on adequacy decisions (§3, §7.2, §9)."""
        assert "adequacy decision (Canada)" in LUNEXXA.recipient("shopify").transfer_safeguard
        for key in ("klaviyo", "google_ads"):
            assert "EU-US Data Privacy Framework" in LUNEXXA.recipient(key).transfer_safeguard

    def test_order_records_are_kept_seven_years_under_the_fiscal_code(self) -> None:
        """Invoices fall under Art. 17(3)(b): § 132 BAO keeps them seven years."""
        retention = LUNEXXA.retention_for("order_records")
        assert retention is not None
        assert retention.ground == "Art. 17(3)(b)"
        assert retention.period == "P7Y"
        assert "§ 132 BAO" in retention.law

    def test_fiscal_retention_runs_from_the_end_of_the_calendar_year(self) -> None:
        """§ 132(1) BAO counts from the end of the year: an order of March 2024 is kept to 2031."""
        retention = LUNEXXA.retention_for("payment_data")
        assert retention is not None
        assert retention.retention_end(date(2024, 3, 5)) == date(2031, 12, 31)

    def test_address_validation_is_deleted_within_thirty_days(self) -> None:
        """§10: Endereco deletes validated addresses at the latest after 30 days."""
        assert LUNEXXA.purpose("address_validation").retention_period == "P30D"
        assert LUNEXXA.retention_for("address_validation") is None


class TestLumaFluxRegister:
    def test_controller_applies_three_state_laws_on_its_own_assertion(self) -> None:
        """The policy names no state: the register records the laws as the shop's assertion."""
        controller = LUMA_FLUX.controller
        assert (controller.country, controller.subdivision) == ("US", None)
        assert controller.timezone == "America/Los_Angeles"
        assert controller.regime is Regime.CCPA
        assert set(controller.regimes) == {Regime.CCPA, Regime.VCDPA, Regime.CPA}
        assert controller.supervisory_authority.name == "California Privacy Protection Agency"
        applicability = controller.applicability
        assert applicability is not None
        assert set(applicability.laws) == set(controller.regimes)
        assert "Luma-Flux" in applicability.asserted_by
        assert "§5" in applicability.source
        assert "states no revenue" in applicability.thresholds
        assert "our own privacy policy" in applicability.other_consumers

    def test_facts_the_policy_omits_are_said_plainly_not_marked_placeholder(self) -> None:
        """The policy states no address or providers; the register says so in plain words."""
        assert "Not stated in our privacy policy" in LUMA_FLUX.controller.address
        assert "names no payment provider" in LUMA_FLUX.recipient("payment_systems").name
        assert "PLACEHOLDER" not in LUMA_FLUX_PATH.read_text(encoding="utf-8")

    def test_categories_follow_section_three_of_the_policy(self) -> None:
        """§3 lists name, phone, e-mail, registration and delivery address, and other form data."""
        keys = {c.key for c in LUMA_FLUX.categories}
        assert {
            "full_name",
            "phone",
            "email",
            "registration_address",
            "delivery_address",
            "other_form_data",
            "order_records",
            "payment_records",
        } <= keys

    def test_newsletter_and_advertising_recipients_are_marketing(self) -> None:
        """An opt-out must reach the newsletter service and the advertising partners."""
        assert LUMA_FLUX.recipient("newsletter").marketing
        assert LUMA_FLUX.recipient("advertising_partners").marketing
        assert LUMA_FLUX.recipient("shopify").connector == "shopify"


BROKEN = [
    ("unknown-category", "recipients.0.categories.1", "unknown category 'ordres'"),
    ("unknown-purpose", "recipients.1.purposes.0", "unknown purpose 'newsletter'"),
    ("unknown-retention-category", "retention_exceptions.0.category", "unknown category"),
    ("bad-country", "recipients.1.country", "not an ISO 3166-1 alpha-2 country code"),
    ("bad-email", "recipients.0.notice.email", "not a valid email address"),
    ("both-notice-channels", "recipients.0.notice", "exactly one of 'email' or 'webhook'"),
    ("plain-http-webhook", "recipients.1.notice.webhook", "https://"),
    ("unknown-connector", "recipients.1.connector", "unknown connector 'hubspot'"),
    ("duplicate-recipient", "recipients.1.key", "duplicate key (first used at recipients.0)"),
    ("unknown-field", "recipients.0.conector", "did you mean 'connector'?"),
    ("missing-controller", "controller", "required field is missing"),
    ("bad-yaml", "line 28, column 14", "expected ',' or ']'"),
    ("duplicate-yaml-key", "line 5, column 3", "duplicate key 'name'"),
    ("not-a-mapping", "", "must be a YAML mapping, found a list"),
    ("unknown-regime", "controller.regime", "'gdpr', 'uk-gdpr', 'ccpa'"),
    ("regimes-without-primary", "controller.regimes", "must contain the primary regime 'gdpr'"),
    ("bad-timezone", "controller.timezone", "not an IANA time zone"),
    ("bad-duration", "retention_exceptions.0.period", "not a duration"),
    ("transfer-without-safeguard", "recipients.1.transfer_safeguard", "outside the EEA"),
]


class TestBrokenRegisters:
    def test_minimal_fixture_is_valid(self) -> None:
        """Every broken fixture is this one with a single fault, so each error has one cause."""
        register = load_register(FIXTURES / "minimal.yaml")
        assert register.controller.key == "shop"

    @pytest.mark.parametrize(("fixture", "location", "reason"), BROKEN, ids=[c[0] for c in BROKEN])
    def test_broken_register_is_refused_at_the_faulty_field(
        self, fixture: str, location: str, reason: str
    ) -> None:
        """A register problem names the file, the exact location and why it was refused."""
        path = FIXTURES / f"broken-{fixture}.yaml"
        with pytest.raises(RegisterError) as caught:
            load_register(path)
        assert caught.value.source == str(path)
        assert caught.value.location == location
        assert reason in caught.value.reason

    def test_error_names_the_recipient_by_key(self) -> None:
        """A fault inside a recipient also names its key, which is easier to find than an index."""
        with pytest.raises(RegisterError) as caught:
            load_register(FIXTURES / "broken-unknown-connector.yaml")
        assert "(in recipient 'mail')" in caught.value.reason

    def test_missing_file_is_a_register_error(self, tmp_path: Path) -> None:
        """A register path that does not exist is reported, not raised as an OSError."""
        path = tmp_path / "absent.yaml"
        with pytest.raises(RegisterError) as caught:
            load_register(path)
        assert (caught.value.source, caught.value.location) == (str(path), "")
        assert caught.value.reason == "file not found"

    def test_empty_document_is_refused(self) -> None:
        """An empty file is not an empty register."""
        with pytest.raises(RegisterError, match="found an empty file"):
            parse_register("# nothing here\n")

    def test_unquoted_norway_gets_a_hint_about_yaml_booleans(self) -> None:
        """YAML reads an unquoted NO as false; the message says to quote it."""
        text = MINIMAL.replace("    country: IE\n", "    country: NO\n")
        with pytest.raises(RegisterError) as caught:
            parse_register(text)
        assert caught.value.location == "recipients.0.country"
        assert "quote the value" in caught.value.reason

    def test_error_message_starts_with_source_and_location(self) -> None:
        """The rendered message reads "file: location: reason" for the CLI."""
        text = MINIMAL.replace("connector: klaviyo", "connector: hubspot")
        with pytest.raises(RegisterError, match=r"^shop\.yaml: recipients\.1\.connector: unknown"):
            parse_register(text, source="shop.yaml")


class TestParseRegister:
    def test_regimes_default_to_the_primary_regime(self) -> None:
        """A controller that lists no regimes is subject to its primary one only."""
        assert parse_register(MINIMAL).controller.regimes == (Regime.GDPR,)

    def test_numeric_subdivision_is_read_as_text(self) -> None:
        """Vienna's subdivision "9" may be written unquoted."""
        text = MINIMAL.replace("  country: AT\n", "  country: AT\n  subdivision: 9\n")
        assert parse_register(text).controller.subdivision == "9"

    def test_country_codes_are_upper_cased(self) -> None:
        """Country codes are compared upper-case, so a lower-case entry is normalised."""
        text = MINIMAL.replace("    country: IE\n", "    country: ie\n")
        assert parse_register(text).recipient("platform").country == "IE"

    def test_register_is_immutable(self) -> None:
        """A loaded register cannot be changed in place by a flow step."""
        register = parse_register(MINIMAL)
        with pytest.raises(ValidationError):
            register.controller.regime = Regime.CCPA  # type: ignore[misc]

    def test_loopback_webhook_may_use_plain_http(self) -> None:
        """Local test receivers on 127.0.0.1 are accepted without TLS; other hosts are not."""
        text = MINIMAL.replace("https://mail.example.com/", "http://127.0.0.1:8700/")
        assert parse_register(text).recipient("mail").notice.address.startswith("http://127.0.0.1")

    def test_known_connectors_are_the_implemented_ones_plus_manual(self) -> None:
        """Connector names in a register must match a connectors/ module or be manual."""
        assert frozenset({"shopify", "klaviyo", "mailchimp", "manual"}) == KNOWN_CONNECTORS


class TestLookups:
    def test_recipient_category_and_purpose_are_found_by_key(self) -> None:
        """Steps refer to register entries by key."""
        assert LUNEXXA.recipient("klaviyo").country == "US"
        assert LUNEXXA.category("image_uploads").provided_by_subject
        assert LUNEXXA.purpose("remarketing").legal_basis.startswith("Art. 6(1)(a)")

    @pytest.mark.parametrize("lookup", ["recipient", "category", "purpose"])
    def test_unknown_key_raises_not_found(self, lookup: str) -> None:
        """A key that names nothing is a NotFoundError, not a KeyError."""
        with pytest.raises(NotFoundError, match="'no-such-key'"):
            getattr(LUNEXXA, lookup)("no-such-key")

    def test_recipients_for_a_category_are_those_that_received_it(self) -> None:
        """Art. 19 notices go to every recipient the category was disclosed to."""
        keys = {r.key for r in LUNEXXA.recipients_for("creditworthiness")}
        assert keys == {"klarna", "paypal"}

    def test_category_without_retention_duty_has_no_exception(self) -> None:
        """Data without a legal retention duty can be erased outright."""
        assert LUNEXXA.retention_for("newsletter_subscription") is None

    def test_longest_retention_duty_wins(self) -> None:
        """When two laws keep a category, the one keeping it longest decides."""
        text = MINIMAL + (
            "  - category: orders\n"
            "    ground: Art. 17(3)(b)\n"
            "    law: § 212 UGB\n"
            "    period: P10Y\n"
            "    description: Longer duty.\n"
        )
        register = parse_register(text)
        assert len(register.retentions_for("orders")) == 2
        retention = register.retention_for("orders")
        assert retention is not None
        assert retention.law == "§ 212 UGB"

    def test_summary_has_one_row_per_recipient_with_its_notice_channel(self) -> None:
        """The summary lists each recipient with role, safeguard, categories and notice channel."""
        rows = parse_register(MINIMAL).summary_rows()
        assert rows == [
            {
                "key": "platform",
                "name": "Shop platform",
                "country": "IE",
                "role": "processor",
                "safeguard": "none needed (EEA)",
                "connector": "shopify",
                "categories": "contact, orders",
                "notice": "email: privacy@platform.example.com",
            },
            {
                "key": "mail",
                "name": "Mail service",
                "country": "US",
                "role": "processor",
                "safeguard": "EU-US Data Privacy Framework (adequacy decision)",
                "connector": "klaviyo",
                "categories": "contact",
                "notice": "webhook: https://mail.example.com/privacy/notices",
            },
        ]


class TestRegimeFor:
    @pytest.mark.parametrize(
        ("subdivision", "regime"),
        [
            ("CA", Regime.CCPA),
            ("VA", Regime.VCDPA),
            ("CO", Regime.CPA),
            ("US-CO", Regime.CPA),
            ("TX", Regime.POLICY),
            ("CT", Regime.POLICY),
            ("NY", Regime.POLICY),
            (None, Regime.CCPA),
        ],
    )
    def test_us_consumer_is_served_under_their_state_law(
        self, subdivision: str | None, regime: Regime
    ) -> None:
        """A state law the shop applies governs its residents; others get the shop's policy."""
        assert LUMA_FLUX.regime_for(country="US", subdivision=subdivision) is regime

    def test_no_residence_means_the_primary_regime(self) -> None:
        """Without a known residence the controller's own regime governs."""
        assert LUMA_FLUX.regime_for() is Regime.CCPA

    def test_customer_in_germany_is_served_under_gdpr(self) -> None:
        """An EEA resident of an EEA controller falls under the GDPR."""
        assert LUNEXXA.regime_for(country="DE") is Regime.GDPR

    def test_uk_customer_of_a_shop_not_subject_to_uk_gdpr_gets_gdpr(self) -> None:
        """Lunexxa is not subject to the UK GDPR, so a London customer is served under the GDPR."""
        assert LUNEXXA.regime_for(country="GB") is Regime.GDPR

    def test_uk_customer_of_a_shop_subject_to_uk_gdpr_gets_uk_gdpr(self) -> None:
        """Residence decides once the controller is subject to the customer's law."""
        text = MINIMAL.replace("  regime: gdpr\n", "  regime: gdpr\n  regimes: [gdpr, uk-gdpr]\n")
        assert parse_register(text).regime_for(country="gb") is Regime.UK_GDPR

    def test_consumer_abroad_of_a_us_business_is_served_under_its_policy(self) -> None:
        """A German customer of Luma-Flux is not under the GDPR nor the CCPA: its policy governs."""
        assert LUMA_FLUX.regime_for(country="DE") is Regime.POLICY
        assert LUMA_FLUX.regime_for(country="CA") is Regime.POLICY

    def test_us_consumer_of_unknown_state_gets_the_primary_regime(self) -> None:
        """Without a state, the shop's primary law is the one it applies."""
        assert LUMA_FLUX.regime_for(country="US") is Regime.CCPA

    @pytest.mark.parametrize("state", ["XX", "US-ZZ", "California"])
    def test_unknown_us_state_is_bad_input(self, state: str) -> None:
        """A state that does not exist is refused, not silently served under some law."""
        with pytest.raises(InputError, match="unknown US state"):
            LUMA_FLUX.regime_for(country="US", subdivision=state)


class TestPlaceholders:
    def test_placeholder_in_a_value_is_refused_with_its_line(self) -> None:
        """A fact not filled in cannot reach a letter: the register is refused."""
        text = MINIMAL.replace("  country: AT\n", "  country: AT  # PLACEHOLDER - check\n")
        line = 1 + text.splitlines().index("  country: AT  # PLACEHOLDER - check")
        with pytest.raises(RegisterError) as raised:
            parse_register(text)
        assert raised.value.location == f"line {line}"
        assert "PLACEHOLDER" in raised.value.reason

    def test_placeholder_in_lower_case_is_refused_too(self) -> None:
        """The marker is found however it is written."""
        text = MINIMAL.replace("  country: AT\n", "  country: AT\n  # placeholder\n")
        with pytest.raises(RegisterError):
            parse_register(text)

    def test_applicability_must_name_the_registers_laws(self) -> None:
        """The asserted laws and the regimes served are one list, not two that can drift."""
        text = LUMA_FLUX_PATH.read_text(encoding="utf-8").replace(
            "    laws: [ccpa, vcdpa, cpa]", "    laws: [ccpa]"
        )
        with pytest.raises(RegisterError) as raised:
            parse_register(text)
        assert raised.value.location == "controller.applicability.laws"


class TestDurations:
    @pytest.mark.parametrize(
        ("text", "parts"),
        [
            ("P7Y", (7, 0, 0)),
            ("P6M", (0, 6, 0)),
            ("P30D", (0, 0, 30)),
            ("P1Y6M", (1, 6, 0)),
            ("P2W", (0, 0, 14)),
            ("P0D", (0, 0, 0)),
        ],
    )
    def test_iso_durations_parse_to_years_months_days(
        self, text: str, parts: tuple[int, int, int]
    ) -> None:
        """Retention periods are ISO-8601 date durations."""
        assert parse_duration(text) == parts

    @pytest.mark.parametrize("junk", ["", "P", "7Y", "P7", "p7y", "PT12H", "P1D1Y", "P 7Y"])
    def test_other_text_is_refused(self, junk: str) -> None:
        """Anything but a calendar-unit duration is rejected rather than guessed."""
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(junk)

    def test_retention_end_clamps_to_the_end_of_february(self) -> None:
        """29 Feb 2028 plus seven years ends on 28 Feb 2035, which has no 29th."""
        assert _retention("P7Y").retention_end(date(2028, 2, 29)) == date(2035, 2, 28)

    def test_retention_end_clamps_a_month_end(self) -> None:
        """31 January plus one month is the last day of February."""
        assert _retention("P1M").retention_end(date(2027, 1, 31)) == date(2027, 2, 28)

    def test_retention_end_adds_days_after_months(self) -> None:
        """Days are counted after years and months, across month ends."""
        assert _retention("P1Y1M30D").retention_end(date(2026, 12, 15)) == date(2028, 2, 14)

    def test_year_end_retention_counts_from_thirty_first_december(self) -> None:
        """A tax-code duty starts at the end of the year the record relates to."""
        retention = _retention("P7Y", from_year_end=True)
        assert retention.retention_end(date(2028, 2, 29)) == date(2035, 12, 31)


class TestDiscoverRegisters:
    def test_shipped_registers_are_found_by_controller_key(self) -> None:
        """Each register file is found under its controller key."""
        assert discover_registers(REGISTERS) == {
            "lunexxa": REGISTERS / "lunexxa.yaml",
            "luma-flux": REGISTERS / "luma-flux.yaml",
        }

    def test_two_files_for_one_controller_are_refused(self, tmp_path: Path) -> None:
        """A controller key must name one register, or requests could be planned from either."""
        (tmp_path / "a.yaml").write_text(MINIMAL, encoding="utf-8")
        (tmp_path / "b.yml").write_text(MINIMAL, encoding="utf-8")
        with pytest.raises(RegisterError) as caught:
            discover_registers(tmp_path)
        assert caught.value.location == "controller.key"
        assert "a.yaml" in caught.value.reason

    def test_broken_register_in_the_directory_is_reported(self, tmp_path: Path) -> None:
        """Discovery validates each file, so a broken one fails loudly before any request."""
        broken = tmp_path / "broken.yaml"
        broken.write_text("- not a register\n", encoding="utf-8")
        with pytest.raises(RegisterError) as caught:
            discover_registers(tmp_path)
        assert caught.value.source == str(broken)

    def test_missing_directory_is_a_register_error(self, tmp_path: Path) -> None:
        """A registers directory that does not exist is reported as input error."""
        with pytest.raises(RegisterError, match="not a directory"):
            discover_registers(tmp_path / "absent")
