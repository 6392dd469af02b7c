"""The Shopify emulator checks every GraphQL request against the served version's schema and
answers a bad one as Shopify does: HTTP 200, Shopify's wording and codes, nothing run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from graphql import GraphQLObjectType

from sandbox import MARIA, Sandbox
from sandbox.shopify_contract import load_schema
from sandbox.shopify_versions import stored_versions, supported_versions
from tests.sandbox.conftest import SHOPIFY_HEADERS, FakeClock, client

pytestmark = pytest.mark.anyio

TODAY = datetime(2026, 12, 4, tzinfo=UTC)
SHOP = "/admin/api/2026-10"
MARIA_GID = f"gid://shopify/Customer/{MARIA.shopify_customer_id}"


@pytest.fixture
def sandbox(clock: FakeClock) -> Sandbox:
    """A small sandbox on a fixed date."""
    return Sandbox.create(customers=10, clock=clock, wall_clock=lambda: TODAY)


@pytest.fixture
async def shopify(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client of the sandbox's Shopify emulator."""
    async with client(sandbox.shopify_app, "http://shop.test", headers=SHOPIFY_HEADERS) as c:
        yield c


async def post(c: httpx.AsyncClient, query: str, path: str = SHOP, **variables: Any) -> Any:
    response = await c.post(f"{path}/graphql.json", json={"query": query, "variables": variables})
    assert response.status_code == 200
    return response.json()


def test_the_schemas_are_shopifys_versions_without_their_prose() -> None:
    """Four versions are on file; each knows Customer.email as deprecated and has no
    description left."""
    assert stored_versions() == ("2026-01", "2026-04", "2026-07", "2026-10")
    assert supported_versions(TODAY.date()) == stored_versions()
    for version in stored_versions():
        schema = load_schema(version)
        customer = schema.get_type("Customer")
        assert isinstance(customer, GraphQLObjectType)
        email = customer.fields["email"]
        assert email.deprecation_reason is not None
        assert customer.description is None
        assert email.description is None


async def test_an_unknown_field_is_rejected_with_shopifys_error(
    shopify: httpx.AsyncClient,
) -> None:
    """A field the pinned schema lacks is ``undefinedField``, with its path and location."""
    body = await post(shopify, "{ customers(first: 1) { nodes { id emailAddress } } }")
    assert body == {
        "errors": [
            {
                "message": "Field 'emailAddress' doesn't exist on type 'Customer'",
                "locations": [{"line": 1, "column": 36}],
                "path": ["query", "customers", "nodes", "emailAddress"],
                "extensions": {
                    "code": "undefinedField",
                    "typeName": "Customer",
                    "fieldName": "emailAddress",
                },
            }
        ]
    }


async def test_a_missing_required_argument_is_rejected_and_nothing_runs(
    sandbox: Sandbox, shopify: httpx.AsyncClient
) -> None:
    """``customerRequestDataErasure(id:)`` has the wrong argument and lacks the required one;
    the valid mutation beside it does not run either."""
    body = await post(
        shopify,
        'mutation { a: tagsAdd(id: "' + MARIA_GID + '", tags: ["x"]) { userErrors { message } } '
        'b: customerRequestDataErasure(id: "' + MARIA_GID + '") { customerId } }',
    )
    assert "data" not in body
    assert [e["extensions"] for e in body["errors"]] == [
        {
            "code": "argumentNotAccepted",
            "name": "customerRequestDataErasure",
            "typeName": "Field",
            "argumentName": "id",
        },
        {
            "code": "missingRequiredArguments",
            "className": "Field",
            "name": "customerRequestDataErasure",
            "arguments": "customerId",
        },
    ]
    assert body["errors"][1]["message"] == (
        "Field 'customerRequestDataErasure' is missing required arguments: customerId"
    )
    assert sandbox.shopify.calls.effects("tags_added") == 0


async def test_a_literal_of_the_wrong_type_is_rejected(shopify: httpx.AsyncClient) -> None:
    """``first: "ten"`` is ``argumentLiteralsIncompatible`` naming the expected type."""
    body = await post(shopify, '{ customers(first: "ten") { nodes { id } } }')
    (error,) = body["errors"]
    assert error["message"] == (
        "Argument 'first' on Field 'customers' has an invalid value (\"ten\"). Expected type 'Int'."
    )
    assert error["extensions"] == {
        "code": "argumentLiteralsIncompatible",
        "typeName": "Field",
        "argumentName": "first",
    }


async def test_a_variable_of_the_wrong_type_is_rejected(shopify: httpx.AsyncClient) -> None:
    """A variable value that does not fit its declared type is ``INVALID_VARIABLE``."""
    query = "query C($id: ID!) { customer(id: $id) { id } }"
    body = await post(shopify, query, id=None)
    (error,) = body["errors"]
    assert error["message"] == "Variable $id of type ID! was provided invalid value"
    assert error["extensions"] == {
        "code": "INVALID_VARIABLE",
        "value": None,
        "problems": [{"path": [], "explanation": "Expected value to not be null"}],
    }


async def test_an_input_object_without_a_required_field_is_rejected(
    shopify: httpx.AsyncClient,
) -> None:
    """An input literal lacking a required field names the field and the input type."""
    body = await post(
        shopify,
        'mutation { customerEmailMarketingConsentUpdate(input: {customerId: "'
        + MARIA_GID
        + '"}) { userErrors { field } } }',
    )
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "missingRequiredInputObjectAttribute"
    assert error["extensions"]["argumentName"] == "emailMarketingConsent"


async def test_undeclared_and_unused_variables_are_rejected(shopify: httpx.AsyncClient) -> None:
    """Shopify names both the variable and the operation."""
    body = await post(shopify, "query Q($x: Int) { customers(first: $y) { nodes { id } } }")
    assert [e["message"] for e in body["errors"]] == [
        "Variable $y is used by Q but not declared",
        "Variable $x is declared by Q but not used",
    ]


async def test_a_field_one_version_lacks_is_rejected_in_that_version(
    shopify: httpx.AsyncClient,
) -> None:
    """``Order.cartToken`` arrived after 2026-01: valid in 2026-10, unknown in 2026-01."""
    query = "{ orders(first: 1) { nodes { cartToken } } }"
    old = await post(shopify, query, path="/admin/api/2026-01")
    new = await post(shopify, query)
    assert old["errors"][0]["extensions"]["code"] == "undefinedField"
    assert new["errors"][0]["message"] == "Order.cartToken is not emulated by the sandbox"


async def test_syntax_errors_are_reported_with_their_position(
    shopify: httpx.AsyncClient,
) -> None:
    """A document that does not parse answers 200 with an error and a location."""
    body = await post(shopify, "query { customer(id: ) { id } }")
    (error,) = body["errors"]
    assert error["locations"] == [{"line": 1, "column": 22}]


async def test_a_body_without_query_is_400(shopify: httpx.AsyncClient) -> None:
    """The query parameter is required."""
    response = await shopify.post(f"{SHOP}/graphql.json", json={"variables": {}})
    assert response.status_code == 400


async def test_a_field_the_sandbox_does_not_model_says_so(shopify: httpx.AsyncClient) -> None:
    """A valid field the emulator has no data for is an error naming it, never a quiet null."""
    body = await post(
        shopify, "query C($id: ID!) { customer(id: $id) { lifetimeDuration } }", id=MARIA_GID
    )
    (error,) = body["errors"]
    assert error["message"] == "Customer.lifetimeDuration is not emulated by the sandbox"
    assert error["path"] == ["customer", "lifetimeDuration"]


async def test_deprecated_fields_still_answer(shopify: httpx.AsyncClient) -> None:
    """``Customer.email`` is deprecated but served, as at Shopify."""
    body = await post(shopify, "query C($id: ID!) { customer(id: $id) { email } }", id=MARIA_GID)
    assert body["data"] == {"customer": {"email": MARIA.email}}
