"""The data section of the access report in the shapes people know (Art. 12(1): concise,
intelligible, in clear and plain language).

A processor's records are turned into cards: an order as its number, date, items, amounts,
payment method and delivery address; a profile as name, contact and consents; anything else as
labelled facts. Empty values and purely technical fields (API ids, tokens, internal flags) are
left out here: ``data.json`` and the CSV files keep every field exactly as exported. Labels and
the words for processors' codes come from ``readable.yaml`` in the person's language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dsar.export.records import ExportedRecord, SourceResult
from dsar.export.words import Words as _Words
from dsar.export.words import parse_date as _parse_date
from dsar.export.words import snake

#: More records than this in one category are listed one line each.
COMPACT_AFTER = 6

#: Fields (snake_case) that identify records in a system or steer it: of no use to a reader.
TECHNICAL: frozenset[str] = frozenset(
    {
        "id", "gid", "type", "uuid", "timestamp", "token", "legacy_resource_id",
        "admin_graphql_api_id", "cart_token", "checkout_token", "browser_ip", "client_ip", "ip",
        "ip_signup", "ip_opt", "client_details", "multipass_identifier", "tax_exemptions",
        "tax_exempt", "verified_email", "state", "email_type", "stats", "member_rating", "vip",
        "email_client", "consents_to_one_to_one_messaging", "marketing_permissions",
        "tags_count", "source", "code", "sku", "currency_code", "currency", "processed_at",
        "closed_at", "updated_at", "updated", "last_changed", "last_updated", "last_event_date",
        "opt_in_process", "latitude", "longitude", "gmtoff", "dstoff", "timezone", "image",
        "custom_attributes", "note_attributes", "method", "method_detail",
        "custom_method_detail", "double_optin", "suppression", "list_suppressions",
        "can_receive_email_marketing", "can_receive_sms_marketing", "marketing_opt_in_level",
        "opt_in_level", "collected_from", "consent_collected_from", "country_code_v2",
        "country_code", "province_code", "display_name", "confirmed", "test", "user_agent",
        "accept_language", "session_hash", "unique_email_id", "web_id", "list_id",
        "contact_id", "customer_id", "external_id", "anonymous_id", "product_id",
        "variant_id", "last_order_id", "default", "interests", "mobile_push",
    }
)  # fmt: skip
#: ``…_id`` fields that a person knows (an order number a marketing event refers to).
_KNOWN_IDS = frozenset({"order_id"})
_NAME_KEYS = frozenset({"first_name", "last_name", "fname", "lname", "full_name"})
_ADDRESS_KEYS = frozenset({"address1", "city", "zip"})
_CONSENT_STATE = ("consent", "marketing_state", "state", "status")
_NEVER = frozenset({"NEVER_SUBSCRIBED", "NOT_SUBSCRIBED"})
_CONSENT_SINCE = ("consent_timestamp", "marketing_updated_at", "consent_updated_at", "updated_at")

#: Where a line goes in its card: name, contact, address, consents, then everything else.
_RANK = {"name": 0, "email": 1, "phone": 1, "address": 2, "consent": 3}


@dataclass(frozen=True)
class Line:
    """One labelled fact; ``values`` are its lines (an address has several)."""

    label: str
    values: tuple[str, ...]
    rank: int = 4


@dataclass(frozen=True)
class Card:
    """One record as a person reads it."""

    title: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class CategoryView:
    """The records of one category; ``compact`` lists them one line each."""

    key: str
    name: str
    cards: tuple[Card, ...]
    compact: bool


def is_technical(key: str, value: object) -> bool:
    """Whether a (snake_case) field is for machines only: left to data.json and the CSVs."""
    if key in TECHNICAL or key.endswith("_token") or key.startswith("ip_") or key.endswith("_ip"):
        return True
    if key.endswith("_id") and key not in _KNOWN_IDS:
        return True
    return isinstance(value, str) and value.startswith("gid://")


def is_empty(value: object) -> bool:
    if value is None or value == "" or value == [] or value == {}:
        return True
    if isinstance(value, Mapping):
        return all(is_empty(v) for v in value.values())
    return False


def _snaked(data: Mapping[str, Any]) -> dict[str, Any]:
    return {snake(str(k)): v for k, v in data.items()}


def _text(value: object, w: _Words) -> str:
    if isinstance(value, bool):
        return str(w["yes"] if value else w["no"])
    if isinstance(value, str):
        return w.date(value) if _parse_date(value) else w.code(value)
    if isinstance(value, Mapping):
        return "; ".join(
            f"{w.field(k)}: {_text(v, w)}"
            for k, v in _snaked(value).items()
            if not is_technical(k, v) and not is_empty(v)
        )
    if isinstance(value, list | tuple):
        return ", ".join(_text(v, w) for v in value if not is_empty(v))
    if isinstance(value, float):
        number = f"{value:.2f}"
        return number.replace(".", ",") if w.lang == "de" else number
    return str(value)


def _is_money(value: Mapping[str, Any]) -> bool:
    keys = set(_snaked(value))
    return "amount" in keys and bool(keys & {"currency", "currency_code"})


def _money(value: Mapping[str, Any], w: _Words) -> str:
    data = _snaked(value)
    return w.money(data["amount"], data.get("currency") or data.get("currency_code") or "")


def _person_name(data: Mapping[str, Any]) -> str:
    first = data.get("first_name") or data.get("fname") or ""
    last = data.get("last_name") or data.get("lname") or ""
    joined = " ".join(str(part) for part in (first, last) if part)
    return joined or str(data.get("full_name") or "")


def address_lines(value: Mapping[str, Any]) -> tuple[str, ...]:
    """An address as it is written on an envelope."""
    data = _snaked(value)
    place = " ".join(str(data[k]) for k in ("zip", "city") if data.get(k))
    parts = (
        _person_name(data),
        data.get("company"),
        data.get("address1"),
        data.get("address2"),
        place,
        data.get("province") or data.get("region"),
        data.get("country"),
    )
    return tuple(str(part) for part in parts if part)


def _consent(value: Mapping[str, Any], w: _Words) -> str | None:
    data = _snaked(value)
    state = next((data[k] for k in _CONSENT_STATE if isinstance(data.get(k), str)), None)
    if state is None:
        return None
    since = next((data[k] for k in _CONSENT_SINCE if isinstance(data.get(k), str)), None)
    text = w.code(state)
    never = state.strip().upper() in _NEVER
    return (
        f"{text} ({w['since']} {w.date(since)})"
        if since and _parse_date(since) and not never
        else text
    )


def record_lines(data: Mapping[str, Any], w: _Words, path: str = "") -> list[Line]:
    """The readable facts of one record (or nested part), technical and empty fields left out."""
    fields = _snaked(data)
    lines: list[Line] = []
    name = _person_name(fields)
    if name and not (fields.keys() & _ADDRESS_KEYS):
        lines.append(Line(w.field("name"), (name,), _RANK["name"]))
    for key, value in fields.items():
        where = f"{path}.{key}" if path else key
        if (key in _NAME_KEYS and name) or is_technical(key, value) or is_empty(value):
            continue
        label = w.field(where, key)
        if isinstance(value, Mapping):
            lines.extend(_mapping_lines(value, w, where, label))
        elif isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
            rows = tuple(
                ", ".join(address_lines(v)) if _snaked(v).keys() & _ADDRESS_KEYS else _text(v, w)
                for v in value
                if isinstance(v, Mapping) and not is_empty(v)
            )
            lines.append(Line(label, rows))
        else:
            rank = _RANK.get("email" if "email" in key else "phone" if "phone" in key else "", 4)
            lines.append(Line(label, (_text(value, w),), rank))
    return lines


def _mapping_lines(value: Mapping[str, Any], w: _Words, where: str, label: str) -> list[Line]:
    if _is_money(value):
        return [Line(label, (_money(value, w),))]
    if _snaked(value).keys() & _ADDRESS_KEYS:
        return [Line(label, address_lines(value), _RANK["address"])]
    consent = _consent(value, w)
    if consent is not None:
        return [Line(label, (consent,), _RANK["consent"])]
    return record_lines(value, w, where)


def _amount(value: object, currency: str, w: _Words) -> str | None:
    if isinstance(value, Mapping):
        return _money(value, w) if _is_money(value) else None
    return w.money(value, currency) if value not in (None, "") else None


def order_card(data: Mapping[str, Any], w: _Words) -> Card:
    """An order as on its confirmation: number, date, items, amounts, payment, delivery."""
    d = _snaked(data)
    currency = str(d.get("currency_code") or d.get("currency") or "")
    number = d.get("name") or d.get("order_number") or ""
    created = d.get("created_at") or d.get("processed_at")
    title = f"{w['order']} {number}" + (f" · {w.date(str(created))}" if created else "")
    lines: list[Line] = []

    def add(key: str, *values: str | None) -> None:
        kept = tuple(v for v in values if v)
        if kept:
            lines.append(Line(w.field(key), kept))

    items = []
    for item in d.get("line_items") or ():
        li = _snaked(item)
        price = _amount(li.get("unit_price") or li.get("price"), currency, w)
        variant = f" ({li['variant_title']})" if li.get("variant_title") else ""
        items.append(f"{li.get('quantity', 1)} × {li.get('title') or li.get('name')}{variant}"
                     + (f" — {price}" if price else ""))  # fmt: skip
    add("items", *items)
    shipping = d.get("total_shipping_price")
    if shipping is None and d.get("shipping_lines"):
        shipping = _snaked(d["shipping_lines"][0]).get("price")
    add("subtotal", _amount(d.get("subtotal_price"), currency, w))
    add("shipping", _amount(shipping, currency, w))
    add("tax", _amount(d.get("total_tax"), currency, w))
    add("total", _amount(d.get("total_price"), currency, w))
    gateways = d.get("payment_gateway_names") or []
    add("payment_method", ", ".join(w.code(str(g)) for g in gateways))
    add("payment_status", _code(d.get("display_financial_status") or d.get("financial_status"), w))
    add(
        "shipping_method",
        *(str(_snaked(s).get("title") or "") for s in d.get("shipping_lines") or ()),
    )
    delivery = d.get("shipping_address")
    if isinstance(delivery, Mapping):
        add("delivery_address", *address_lines(delivery))
    billing = d.get("billing_address")
    if isinstance(billing, Mapping) and (
        not isinstance(delivery, Mapping) or address_lines(billing) != address_lines(delivery)
    ):
        add("billing_address", *address_lines(billing))
    status = d.get("display_fulfillment_status") or d.get("fulfillment_status")
    add("delivery_status", _code(status, w))
    add("shipments", *(_shipment(f, w) for f in d.get("fulfillments") or ()))
    add("email", d.get("email") or d.get("contact_email"))
    add("phone", d.get("phone"))
    add("note", d.get("note"))
    if d.get("cancelled_at"):
        add("cancelled_at", w.date(str(d["cancelled_at"])))
        add("cancel_reason", _code(d.get("cancel_reason"), w))
    return Card(title, tuple(lines))


def _code(value: object, w: _Words) -> str | None:
    return w.code(str(value)) if value else None


def _shipment(value: Mapping[str, Any], w: _Words) -> str:
    f = _snaked(value)
    parts = [
        w.code(str(f.get("status") or "")),
        w.date(str(f["created_at"])) if f.get("created_at") else "",
    ]
    for tracking in f.get("tracking_info") or ():
        t = _snaked(tracking)
        if t.get("company"):
            parts.append(f"{w['shipped_with']} {t['company']}")
        if t.get("number"):
            parts.append(f"{w['tracking']} {t['number']}")
    return " ".join(p for p in parts if p)


def record_card(record: ExportedRecord, w: _Words) -> Card:
    """Any record: an order by its own shape, everything else as labelled facts."""
    data = _snaked(record.data)
    if "line_items" in data:
        return order_card(record.data, w)
    if data.keys() & _ADDRESS_KEYS:
        lines = [Line(w.field("address"), address_lines(data), _RANK["address"])]
        if data.get("phone"):
            lines.append(Line(w.field("phone"), (str(data["phone"]),), _RANK["phone"]))
        return Card("", tuple(lines))
    title = ""
    when = data.get("datetime") or (data.get("created") if data.get("name") else None)
    if isinstance(data.get("name"), str) and not _person_name(data):
        title = str(data["name"])
    elif isinstance(when, str) and _parse_date(when):
        title = w.date(when)
    lines = [
        line for line in record_lines(record.data, w) if not (title and line.values == (title,))
    ]
    unique = list(dict.fromkeys(lines))
    return Card(title, tuple(sorted(unique, key=lambda line: line.rank)))


def readable_categories(
    results: Sequence[SourceResult], *, language: str, names: Mapping[str, str]
) -> tuple[CategoryView, ...]:
    """One view per category of these results, in category order, in ``language``."""
    w = _Words(language)
    by_category: dict[str, list[ExportedRecord]] = {}
    for result in results:
        for record in result.records:
            by_category.setdefault(record.category, []).append(record)
    views = []
    for key in sorted(by_category):
        cards = tuple(record_card(record, w) for record in by_category[key])
        label = w["categories"].get(key) or names.get(key) or key.replace("_", " ").capitalize()
        views.append(CategoryView(key, label, cards, compact=len(cards) > COMPACT_AFTER))
    return tuple(views)
