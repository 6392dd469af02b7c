"""The Shopify connector's GraphQL documents.

Every document names only fields of the pinned Admin API version that are not deprecated
(``defaultEmailAddress.emailAddress``, not ``email``; ``addressesV2``, not ``addresses``); the
tests validate each against that version's schema. Each carries its requested cost in Shopify's
points, computed the way Shopify does (objects 1, connections 2 plus ``first`` times a node,
mutations 10), so the connector can wait for the points before sending instead of being
throttled; page sizes keep every document well under Shopify's single-query limit of 1,000.
"""

from __future__ import annotations

#: Customers per search page, orders per page, line items per order page.
CUSTOMER_PAGE = 10
ORDER_PAGE = 5
LINE_ITEM_PAGE = 20
MORE_LINE_ITEMS = 100


class Query(str):
    """A GraphQL document (the text itself) that knows its requested cost in Shopify's points."""

    cost: int

    def __new__(cls, text: str, cost: int) -> Query:
        document = super().__new__(cls, text)
        document.cost = cost
        return document

    @property
    def text(self) -> str:
        """The document as sent."""
        return str(self)


_MONEY = "shopMoney { amount currencyCode }"
_ADDRESS = """fragment Address on MailingAddress {
  id firstName lastName company address1 address2 city zip province provinceCode country
  countryCodeV2 phone
}"""
_PERSON = """fragment Person on Customer {
  id legacyResourceId firstName lastName tags
  defaultEmailAddress { emailAddress marketingState }
  defaultPhoneNumber { phoneNumber }
  defaultAddress { ...Address }
}"""
#: A customer found: 1 + email 1 + phone 1 + default address 1.
_PERSON_COST = 4

FIND = Query(
    f"""query FindCustomers($query: String!, $after: String) {{
  customers(first: {CUSTOMER_PAGE}, after: $after, query: $query) {{
    nodes {{ ...Person }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
{_PERSON}
{_ADDRESS}""",
    2 + CUSTOMER_PAGE * _PERSON_COST,
)
CUSTOMER = Query(
    f"""query Customer($id: ID!) {{ customer(id: $id) {{ ...Person }} }}
{_PERSON}
{_ADDRESS}""",
    _PERSON_COST,
)
ACCOUNT = Query(
    f"""query Account($id: ID!) {{
  customer(id: $id) {{
    id legacyResourceId firstName lastName displayName note state tags locale verifiedEmail
    taxExempt createdAt updatedAt numberOfOrders
    amountSpent {{ amount currencyCode }}
    defaultEmailAddress {{ emailAddress marketingState marketingOptInLevel marketingUpdatedAt }}
    defaultPhoneNumber {{
      phoneNumber
      smsMarketingConsent {{ state optInLevel collectedFrom updatedAt }}
    }}
    addressesV2(first: 50) {{ nodes {{ ...Address }} pageInfo {{ hasNextPage endCursor }} }}
  }}
}}
{_ADDRESS}""",
    1 + 1 + 1 + 2 + (2 + 50 * 1),
)
ADDRESSES = Query(
    f"""query Addresses($id: ID!, $after: String) {{
  customer(id: $id) {{
    addressesV2(first: 100, after: $after) {{
      nodes {{ ...Address }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}
{_ADDRESS}""",
    1 + 2 + 100,
)
_LINE_ITEMS = f"""nodes {{
      id title name quantity sku variantTitle
      originalUnitPriceSet {{ {_MONEY} }}
    }}
    pageInfo {{ hasNextPage endCursor }}"""
_ORDER_COST = (
    1
    + 4 * 2  # four money bags
    + 2  # billing and shipping address
    + 1  # custom attributes
    + (2 + 5 * 3)  # shipping lines
    + 5 * (1 + 5)  # fulfilments with tracking
    + (2 + LINE_ITEM_PAGE * 3)  # line items
)
ORDERS = Query(
    f"""query Orders($id: ID!, $after: String) {{
  customer(id: $id) {{
    orders(first: {ORDER_PAGE}, after: $after) {{
      nodes {{ ...Order }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}
fragment Order on Order {{
  id legacyResourceId name createdAt processedAt closedAt cancelledAt cancelReason currencyCode
  displayFinancialStatus displayFulfillmentStatus email phone note clientIp tags
  paymentGatewayNames
  totalPriceSet {{ {_MONEY} }}
  subtotalPriceSet {{ {_MONEY} }}
  totalShippingPriceSet {{ {_MONEY} }}
  totalTaxSet {{ {_MONEY} }}
  billingAddress {{ ...Address }}
  shippingAddress {{ ...Address }}
  customAttributes {{ key value }}
  shippingLines(first: 5) {{
    nodes {{ title code source originalPriceSet {{ {_MONEY} }} }}
    pageInfo {{ hasNextPage }}
  }}
  fulfillments(first: 5) {{ name status createdAt trackingInfo(first: 5) {{ company number url }} }}
  lineItems(first: {LINE_ITEM_PAGE}) {{
    {_LINE_ITEMS}
  }}
}}
{_ADDRESS}""",
    1 + 2 + ORDER_PAGE * _ORDER_COST,
)
#: Orders per page when reading only where the person's data went.
TRACE_PAGE = 25
#: Per order: 1 + gateways 0 + fulfilments 5 × (1 + tracking 5) + two addresses.
_TRACE_COST = 1 + 5 * (1 + 5) + 2
TRACES = Query(
    f"""query OrderTraces($id: ID!, $after: String) {{
  customer(id: $id) {{
    orders(first: {TRACE_PAGE}, after: $after) {{
      nodes {{
        name paymentGatewayNames
        fulfillments(first: 5) {{ trackingInfo(first: 5) {{ company }} }}
        shippingAddress {{ countryCodeV2 }}
        billingAddress {{ countryCodeV2 }}
      }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}""",
    1 + 2 + TRACE_PAGE * _TRACE_COST,
)
LINE_ITEMS = Query(
    f"""query LineItems($id: ID!, $after: String) {{
  order(id: $id) {{
    lineItems(first: {MORE_LINE_ITEMS}, after: $after) {{
      {_LINE_ITEMS}
    }}
  }}
}}""",
    1 + 2 + MORE_LINE_ITEMS * 3,
)
SCOPES = Query("query Scopes { currentAppInstallation { accessScopes { handle } } }", 2)
UPDATE = Query(
    """mutation customerUpdate($input: CustomerInput!) {
  customerUpdate(input: $input) { customer { id } userErrors { field message } }
}""",
    10,
)
ADDRESS_UPDATE = Query(
    """mutation customerAddressUpdate($customerId: ID!, $addressId: ID!,
    $address: MailingAddressInput!) {
  customerAddressUpdate(customerId: $customerId, addressId: $addressId, address: $address) {
    address { id }
    userErrors { field message }
  }
}""",
    10,
)
ERASE = Query(
    """mutation customerRequestDataErasure($customerId: ID!) {
  customerRequestDataErasure(customerId: $customerId) {
    customerId
    userErrors { field message code }
  }
}""",
    10,
)
CONSENT = Query(
    """mutation customerEmailMarketingConsentUpdate(
    $input: CustomerEmailMarketingConsentUpdateInput!) {
  customerEmailMarketingConsentUpdate(input: $input) {
    customer { id }
    userErrors { field message code }
  }
}""",
    10,
)
TAGS_ADD = Query(
    """mutation tagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } }
}""",
    10,
)
TAGS_REMOVE = Query(
    """mutation tagsRemove($id: ID!, $tags: [String!]!) {
  tagsRemove(id: $id, tags: $tags) { node { id } userErrors { field message } }
}""",
    10,
)
#: Every document the connector sends (the tests validate each against the pinned schema).
DOCUMENTS = (
    FIND, CUSTOMER, ACCOUNT, ADDRESSES, ORDERS, TRACES, LINE_ITEMS, SCOPES,
    UPDATE, ADDRESS_UPDATE, ERASE, CONSENT, TAGS_ADD, TAGS_REMOVE,
)  # fmt: skip
