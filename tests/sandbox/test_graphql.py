"""The GraphQL reader the Shopify emulator parses documents with."""

from __future__ import annotations

import pytest

from sandbox.graphql import (
    EnumValue,
    Field,
    FragmentSpread,
    GraphQLError,
    InlineFragment,
    Variable,
    bind_variables,
    parse,
    resolve,
    used_variables,
)


def test_operation_with_variables_aliases_and_literals_is_read() -> None:
    """Names, defaults, aliases and every literal kind come out as written."""
    doc = parse(
        """
        # a comment
        mutation Update($id: ID!, $level: String = "SINGLE_OPT_IN") {
          first: customerEmailMarketingConsentUpdate(input: {
            customerId: $id, emailMarketingConsent: {marketingState: UNSUBSCRIBED,
            marketingOptInLevel: $level}, note: \"\"\"multi
              line\"\"\", n: -1.5e2, flags: [true, null, 3]
          }) @include(if: true) { userErrors { field } }
        }
        """
    )
    operation = doc.operation(None)
    assert (operation.kind, operation.name) == ("mutation", "Update")
    assert [(v.name, v.type, v.default) for v in operation.variables] == [
        ("id", "ID!", None),
        ("level", "String", "SINGLE_OPT_IN"),
    ]
    (field,) = operation.selections
    assert isinstance(field, Field)
    assert (field.key, field.name) == ("first", "customerEmailMarketingConsentUpdate")
    data = field.arguments["input"]
    assert data["customerId"] == Variable("id")
    assert data["emailMarketingConsent"]["marketingState"] == EnumValue("UNSUBSCRIBED")
    assert data["note"] == "multi\nline"
    assert (data["n"], data["flags"]) == (-150.0, [True, None, 3])
    variables = bind_variables(operation, {"id": "gid://shopify/Customer/1"})
    resolved = resolve(field.arguments, variables)["input"]
    assert resolved["customerId"] == "gid://shopify/Customer/1"
    assert resolved["emailMarketingConsent"] == {
        "marketingState": "UNSUBSCRIBED",
        "marketingOptInLevel": "SINGLE_OPT_IN",
    }


def test_fragments_and_their_variables_are_found() -> None:
    """Fragment spreads and inline fragments are kept; variables inside them count as used."""
    doc = parse(
        "query { customer(id: $id) { ...Basics ... on Customer { tags } } }"
        " fragment Basics on Customer { email orders(first: $n) { nodes { id } } }"
    )
    (customer,) = doc.operation(None).selections
    assert isinstance(customer, Field)
    spread, inline = customer.selections
    assert isinstance(spread, FragmentSpread)
    assert isinstance(inline, InlineFragment)
    assert inline.type_condition == "Customer"
    assert doc.fragments["Basics"].type_condition == "Customer"
    assert used_variables(doc.operation(None).selections, doc.fragments) == {"id", "n"}


def test_missing_required_variable_is_an_error() -> None:
    """A non-null variable without value or default is refused before anything runs."""
    operation = parse("query Q($id: ID!) { customer(id: $id) { id } }").operation("Q")
    with pytest.raises(GraphQLError, match=r"\$id"):
        bind_variables(operation, {})


@pytest.mark.parametrize(
    ("source", "line", "column"),
    [
        ("{ customer(id: ) { id } }", 1, 16),
        ("query {\n  customer(id: 1) {\n}", 3, 1),
        ('{ customer(id: "unterminated) { id } }', 1, 16),
    ],
)
def test_syntax_errors_carry_their_position(source: str, line: int, column: int) -> None:
    """Parse errors say where the document went wrong."""
    with pytest.raises(GraphQLError) as caught:
        parse(source)
    assert (caught.value.line, caught.value.column) == (line, column)


def test_several_operations_need_an_operation_name() -> None:
    """With two operations the request must name one."""
    doc = parse("query A { customer(id: 1) { id } } query B { customer(id: 2) { id } }")
    assert doc.operation("B").name == "B"
    with pytest.raises(GraphQLError, match="operation name"):
        doc.operation(None)
