"""What a GraphQL request costs in Shopify's points, before it runs and after.

Shopify charges every request to a bucket of points (:class:`~sandbox.ratelimit.CostBucket`).
Before running it checks the *requested* cost, computed from the document alone: scalars and
enums cost nothing, an object 1, a connection 2 plus ``first`` (or ``last``) times the cost of
one of its nodes, a list field with a ``first`` argument that many objects, and every top-level
mutation field 10. After running it charges the *actual* cost, the same sum over what was
returned (a connection of 50 asked for and 2 returned costs 2 + 2 × node), and gives back the
difference. A request whose requested cost exceeds :data:`MAX_QUERY_COST` is refused outright.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
    is_composite_type,
    value_from_ast,
)
from graphql.type import GraphQLInterfaceType

from sandbox.shopify_contract import Checked

#: Shopify refuses a single request whose requested cost is above this.
MAX_QUERY_COST = 1000
MUTATION_COST = 10
#: Marks "count what was asked for", as opposed to a returned value to count.
_REQUESTED: Any = object()


class Costing:
    """The cost of one checked request against ``schema``."""

    def __init__(self, schema: GraphQLSchema, request: Checked) -> None:
        self.schema = schema
        self.request = request
        self.fragments = {
            d.name.value: d
            for d in request.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }

    def requested(self) -> int:
        """The cost computed from the document alone."""
        return self._total(_REQUESTED)

    def actual(self, data: dict[str, Any] | None) -> int:
        """The cost of what was returned in ``data``."""
        return self._total(data if data is not None else {})

    def _total(self, data: Any) -> int:
        root = self.schema.mutation_type if self.request.is_mutation else self.schema.query_type
        selections = self.request.operation.selection_set
        if self.request.is_mutation:
            fields = [f for f in self._fields(selections) if not f.name.value.startswith("__")]
            return MUTATION_COST * len(fields)
        assert root is not None  # noqa: S101 - Shopify's schema has both roots
        return max(1, self._selection_cost(selections, root, data))

    def _fields(self, selections: SelectionSetNode | None) -> Iterator[FieldNode]:
        """The fields of a selection set, fragments flattened (type conditions ignored)."""
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                yield from self._fields(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    yield from self._fields(fragment.selection_set)

    def _selection_cost(self, selections: SelectionSetNode | None, parent: Any, data: Any) -> int:
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0
        total = 0
        for node in self._fields(selections):
            definition = parent.fields.get(node.name.value)
            if definition is None or not is_composite_type(get_named_type(definition.type)):
                continue
            key = node.alias.value if node.alias else node.name.value
            value = data if data is _REQUESTED else (data or {}).get(key)
            total += self._field_cost(node, definition, value)
        return total

    def _field_cost(self, node: FieldNode, definition: GraphQLField, value: Any) -> int:
        target = get_named_type(definition.type)
        size = self._size(node, definition)
        if target.name.endswith("Connection") and size is not None:
            return 2 + self._connection_nodes(node, target, size, value)
        inner = definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else None
        is_list = isinstance(inner or definition.type, GraphQLList)
        if value is _REQUESTED:
            count = size if (is_list and size is not None) else 1
            return count * (1 + self._selection_cost(node.selection_set, target, _REQUESTED))
        if value is None:
            return 0
        items = value if isinstance(value, list) else [value]
        return sum(1 + self._selection_cost(node.selection_set, target, i) for i in items)

    def _size(self, node: FieldNode, definition: GraphQLField) -> int | None:
        """The page size asked for with ``first`` or ``last``, if the field takes one."""
        for name in ("first", "last"):
            if name not in definition.args:
                continue
            argument = next((a for a in node.arguments or () if a.name.value == name), None)
            if argument is None:
                continue
            size = value_from_ast(argument.value, GraphQLInt, self.request.variables)
            if isinstance(size, int):
                return max(0, size)
        return None

    def _connection_nodes(self, node: FieldNode, connection: Any, size: int, value: Any) -> int:
        """``size`` (or the returned number of) nodes, each 1 plus its selection's cost."""
        shapes: list[tuple[str, SelectionSetNode | None, str | None]] = []
        for field in self._fields(node.selection_set):
            key = field.alias.value if field.alias else field.name.value
            if field.name.value == "nodes":
                shapes.append((key, field.selection_set, None))
            elif field.name.value == "edges":
                for inner in self._fields(field.selection_set):
                    if inner.name.value == "node":
                        alias = inner.alias.value if inner.alias else "node"
                        shapes.append((key, inner.selection_set, alias))
        if "nodes" not in connection.fields:
            return 0
        node_type = get_named_type(connection.fields["nodes"].type)
        if value is _REQUESTED:
            each = max(
                (self._selection_cost(sel, node_type, _REQUESTED) for _, sel, _ in shapes),
                default=0,
            )
            return size * (1 + each)
        if not isinstance(value, dict):
            return 0
        total = 0
        for key, selection, edge_key in shapes:
            items: list[Any] = value.get(key) or []
            if edge_key is not None:
                items = [i.get(edge_key) if isinstance(i, dict) else None for i in items]
            nodes = [n for n in items if n is not None]
            total = max(
                total, sum(1 + self._selection_cost(selection, node_type, n) for n in nodes)
            )
        return total
