"""The Admin API mutations the emulator carries out, with Shopify's ``userErrors``.

``customerUpdate``, ``customerAddressUpdate``, ``customerEmailMarketingConsentUpdate``,
``customerRequestDataErasure``, ``customerCancelDataErasure``, ``tagsAdd`` and ``tagsRemove``.
Each receives arguments already validated and coerced against the schema, records its side
effect in the call log (tests count them to prove an operation happened once), and answers a
payload whose ``userErrors`` carry the fields the schema types them with (``code`` only where
the schema's error type has one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.shopify_nodes import address_node, customer_node
from sandbox.shopify_state import ShopifyValidationError
from sandbox.shopify_values import Viewer, gid, parse_gid

Mutation = Callable[..., dict[str, Any]]

#: REST field names of ``customerUpdate``'s input fields.
_CUSTOMER_INPUT = {
    "email": "email",
    "firstName": "first_name",
    "lastName": "last_name",
    "phone": "phone",
    "note": "note",
    "tags": "tags",
}
#: Model field names of ``MailingAddressInput``'s fields.
_ADDRESS_INPUT = {
    "address1": "address1",
    "address2": "address2",
    "city": "city",
    "company": "company",
    "zip": "zip",
    "firstName": "first_name",
    "lastName": "last_name",
    "phone": "phone",
    "province": "province",
    "provinceCode": "province_code",
    "country": "country",
}
#: Country names of the codes the sandbox's people live under.
COUNTRY_NAMES = {
    "AT": "Austria",
    "DE": "Germany",
    "CH": "Switzerland",
    "US": "United States",
    "GB": "United Kingdom",
    "FR": "France",
    "IT": "Italy",
}
_CONSENT_STATES = {"SUBSCRIBED", "UNSUBSCRIBED", "PENDING"}
_CANCEL_MESSAGES = {
    "DOES_NOT_EXIST": "Customer does not exist.",
    "NOT_BEING_ERASED": "Customer is not being erased.",
    "FAILED_TO_CANCEL": "Failed to cancel customer data erasure.",
}


def _error(field: list[str] | None, message: str, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"field": field, "message": message}
    if code is not None:
        error["code"] = code
    return error


def customer_update(viewer: Viewer, **args: Any) -> dict[str, Any]:
    """``customerUpdate(input:)``: account fields; Shopify's validation as ``userErrors``."""
    data = args["input"]
    cid = parse_gid(data.get("id"), "Customer") if data.get("id") else None
    customer = viewer.state.get(cid) if cid is not None else None
    if customer is None:
        return {"customer": None, "userErrors": [_error(["id"], "Customer does not exist")]}
    changes = {rest: data[name] for name, rest in _CUSTOMER_INPUT.items() if name in data}
    viewer.calls.record_effect("customer_updated", str(customer.id))
    try:
        viewer.state.update(customer.id, changes)
    except ShopifyValidationError as exc:
        errors = [
            _error([field], f"{field.replace('_', ' ').capitalize()} {message}")
            for field, messages in exc.errors.items()
            for message in messages
        ]
        return {"customer": None, "userErrors": errors}
    return {"customer": customer_node(viewer, customer), "userErrors": []}


def customer_address_update(viewer: Viewer, **args: Any) -> dict[str, Any]:
    """``customerAddressUpdate``: one address of a customer, changed in place."""
    cid = parse_gid(args["customerId"], "Customer")
    address_id = parse_gid(args["addressId"], "MailingAddress")
    customer = viewer.state.get(cid) if cid is not None else None
    if customer is None:
        return {"address": None, "userErrors": [_error(["customerId"], "Customer does not exist")]}
    given = args["address"]
    changes = {model: given[name] for name, model in _ADDRESS_INPUT.items() if name in given}
    if given.get("countryCode"):
        code = str(given["countryCode"])
        changes["country_code"] = code
        changes.setdefault("country", COUNTRY_NAMES.get(code, code))
    viewer.calls.record_effect("address_updated", str(cid))
    address = (
        viewer.state.update_address(
            customer.id, address_id, changes, make_default=bool(args.get("setAsDefault"))
        )
        if address_id is not None
        else None
    )
    if address is None:
        return {"address": None, "userErrors": [_error(["addressId"], "Address does not exist")]}
    return {"address": address_node(address), "userErrors": []}


def consent_update(viewer: Viewer, **args: Any) -> dict[str, Any]:
    """``customerEmailMarketingConsentUpdate``: only SUBSCRIBED, UNSUBSCRIBED or PENDING."""
    data = args["input"]
    consent = data["emailMarketingConsent"]
    cid = parse_gid(data["customerId"], "Customer")
    marketing = consent["marketingState"]
    level = consent.get("marketingOptInLevel") or "SINGLE_OPT_IN"
    errors = []
    if marketing not in _CONSENT_STATES:
        errors.append(
            _error(
                ["input", "emailMarketingConsent", "marketingState"],
                "Marketing state is not a valid value",
                "INCLUSION",
            )
        )
    customer = viewer.state.get(cid) if cid is not None else None
    if customer is None:
        errors.append(_error(["input", "customerId"], "Customer not found", "INVALID"))
    elif not customer.email:
        errors.append(
            _error(["input", "customerId"], "Customer must have an email address", "INVALID")
        )
    if errors or customer is None:
        return {"customer": None, "userErrors": errors}
    viewer.calls.record_effect("email_consent_updated", str(customer.id))
    viewer.state.set_email_consent(customer.id, str(marketing).lower(), str(level).lower())
    return {"customer": customer_node(viewer, customer), "userErrors": []}


def request_erasure(viewer: Viewer, **args: Any) -> dict[str, Any]:
    """``customerRequestDataErasure``: idempotent while an erasure is pending."""
    cid = parse_gid(args["customerId"], "Customer")
    if cid is None or viewer.state.get(cid) is None:
        error = _error(["customerId"], "Customer does not exist.", "DOES_NOT_EXIST")
        return {"customerId": None, "userErrors": [error]}
    if viewer.state.erasure_status(cid) != "pending":
        viewer.calls.record_effect("erasure_requested", str(cid))
    viewer.state.request_erasure(cid)
    return {"customerId": gid("Customer", cid), "userErrors": []}


def cancel_erasure(viewer: Viewer, **args: Any) -> dict[str, Any]:
    """``customerCancelDataErasure``: stops a pending erasure."""
    cid = parse_gid(args["customerId"], "Customer")
    code = viewer.state.cancel_erasure(cid) if cid is not None else "DOES_NOT_EXIST"
    if cid is not None:
        viewer.calls.record_effect("erasure_cancel_requested", str(cid))
    if code is not None:
        error = _error(["customerId"], _CANCEL_MESSAGES[code], code)
        return {"customerId": None, "userErrors": [error]}
    return {"customerId": gid("Customer", cid or 0), "userErrors": []}


def _tags(*, add: bool) -> Mutation:
    def mutation(viewer: Viewer, **args: Any) -> dict[str, Any]:
        cid = parse_gid(args["id"], "Customer")
        tags = [t.strip() for t in args["tags"] for t in t.split(",") if t.strip()]
        if cid is None or not viewer.state.change_tags(cid, tags, add=add):
            return {"node": None, "userErrors": [_error(["id"], "Not Found")]}
        viewer.calls.record_effect("tags_added" if add else "tags_removed", str(cid))
        customer = viewer.state.get(cid)
        node = {**customer_node(viewer, customer), "__typename": "Customer"} if customer else None
        return {"node": node, "userErrors": []}

    return mutation


MUTATIONS: dict[str, Mutation] = {
    "customerUpdate": customer_update,
    "customerAddressUpdate": customer_address_update,
    "customerEmailMarketingConsentUpdate": consent_update,
    "customerRequestDataErasure": request_erasure,
    "customerCancelDataErasure": cancel_erasure,
    "tagsAdd": _tags(add=True),
    "tagsRemove": _tags(add=False),
}
