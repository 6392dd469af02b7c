"""The well-known personas: people the sandbox always holds, in known places and shapes.

Tests and the demo rely on them; their ids, addresses, memberships and counts do not depend on
the seed or the sizes of the fabricated crowd (:mod:`sandbox.seed`).

A second shop (:func:`~sandbox.seed.seed_sandbox` with ``second_shop``) holds
:data:`SECOND_SHOP_PERSONAS`: Maria shops there too, under the same address, as happens in life
(:data:`BOTH_SHOPS`), with a customer id, orders and a Klaviyo profile of her own there
(:data:`MARIA_SECOND_SHOP`). Nobody else of the first shop's personas is known there.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.mailchimp_state import subscriber_hash


@dataclass(frozen=True)
class Persona:
    """A person the sandbox always knows, and where.

    ``email`` is the canonical (lower-case) address; ``*_email`` is how each system spells it
    (``None`` where the person is absent).
    """

    key: str
    email: str
    first_name: str
    last_name: str
    phone: str | None = None
    shopify_email: str | None = None
    klaviyo_email: str | None = None
    mailchimp_email: str | None = None
    shopify_customer_id: int | None = None
    klaviyo_profile_id: str | None = None
    shopify_addresses: int = 0
    shopify_orders: int = 0
    klaviyo_lists: int = 0
    klaviyo_events: int = 0

    @property
    def mailchimp_subscriber_hash(self) -> str | None:
        """The member id in Mailchimp, if a member."""
        return subscriber_hash(self.mailchimp_email) if self.mailchimp_email else None

    @property
    def systems(self) -> frozenset[str]:
        """The processors that hold this person."""
        present = {
            "shopify": self.shopify_email,
            "klaviyo": self.klaviyo_email,
            "mailchimp": self.mailchimp_email,
        }
        return frozenset(name for name, email in present.items() if email)


MARIA_EMAIL = "maria.muster@example.com"
JONAS_EMAIL = "jonas.beispiel@example.com"
NEWSLETTER_ONLY_EMAIL = "newsletter.only@example.com"
SHOP_ONLY_EMAIL = "shop.only@example.com"
NOBODY_EMAIL = "nobody@example.com"

MARIA = Persona(
    key="maria", email=MARIA_EMAIL, first_name="Maria", last_name="Muster",
    phone="+436601234567", shopify_email=MARIA_EMAIL, klaviyo_email=MARIA_EMAIL,
    mailchimp_email=MARIA_EMAIL, shopify_customer_id=7_000_000_000_001,
    klaviyo_profile_id="01JA0000000000000000MAR1A0", shopify_addresses=2, shopify_orders=3,
    klaviyo_lists=2, klaviyo_events=32,
)  # fmt: skip
JONAS = Persona(
    key="jonas", email=JONAS_EMAIL, first_name="Jonas", last_name="Beispiel",
    phone="+4915112345678", shopify_email="Jonas.Beispiel@Example.com",
    klaviyo_email="jonas.beispiel@example.com", mailchimp_email="JONAS.BEISPIEL@example.com",
    shopify_customer_id=7_000_000_000_002, klaviyo_profile_id="01JA0000000000000000J0NAS0",
    shopify_addresses=1, shopify_orders=2, klaviyo_lists=1, klaviyo_events=5,
)  # fmt: skip
NEWSLETTER_ONLY = Persona(
    key="newsletter_only", email=NEWSLETTER_ONLY_EMAIL, first_name="Nora",
    last_name="Neumann", klaviyo_email=NEWSLETTER_ONLY_EMAIL,
    mailchimp_email=NEWSLETTER_ONLY_EMAIL, klaviyo_profile_id="01JA0000000000000000NEWS00",
    klaviyo_lists=1, klaviyo_events=3,
)  # fmt: skip
SHOP_ONLY = Persona(
    key="shop_only", email=SHOP_ONLY_EMAIL, first_name="Sophie", last_name="Schulz",
    shopify_email=SHOP_ONLY_EMAIL, shopify_customer_id=7_000_000_000_003, shopify_addresses=1,
)  # fmt: skip
NOBODY = Persona(key="nobody", email=NOBODY_EMAIL, first_name="No", last_name="Body")

PERSONAS: dict[str, Persona] = {
    p.key: p for p in (MARIA, JONAS, NEWSLETTER_ONLY, SHOP_ONLY, NOBODY)
}

#: Maria as a second shop knows her: the same address, her own customer id, one address, two
#: orders and a profile there; not on its Mailchimp audience.
MARIA_SECOND_SHOP = Persona(
    key="maria", email=MARIA_EMAIL, first_name="Maria", last_name="Muster",
    phone="+436601234567", shopify_email=MARIA_EMAIL, klaviyo_email=MARIA_EMAIL,
    shopify_customer_id=7_100_000_000_001, klaviyo_profile_id="01JB0000000000000000MAR1A0",
    shopify_addresses=1, shopify_orders=2, klaviyo_lists=1, klaviyo_events=6,
)  # fmt: skip
#: The person who is a customer of both shops under one e-mail address (the first shop's view).
BOTH_SHOPS = MARIA
#: The personas of a second shop.
SECOND_SHOP_PERSONAS: dict[str, Persona] = {p.key: p for p in (MARIA_SECOND_SHOP, NOBODY)}
