"""The fields of a data-subject request as the website sends them, parsed and validated.

The contact-form webhook and the request page share this one shape, so a request is judged by
the same rules whichever way it came. Values are only checked, never echoed back: a refusal
names the field and the rule, not what was typed (it may be someone's address).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dsar.enums import RequestKind
from dsar.intake.corrections import check_corrections, form_corrections
from dsar.intake.guard import FORM, JSON, IntakeRejection

#: The most form fields a body may carry; a request needs about seven.
MAX_FIELDS = 50

_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})?")
KIND_OR_MESSAGE = "give the kind of request, or a message that describes it"
_OPTIONAL = ("kind", "message", "language", "order_number", "controller")


class ContactForm(BaseModel):
    """A request as the website's contact form or the request page hands it in.

    ``kind`` may be left out when ``message`` says what is wanted: the message is then read
    for it (:mod:`dsar.intake.classifier`). ``controller`` names the register when the service
    serves several shops. Fields the form does not know are ignored, not stored (Art. 5(1)(c)).
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)

    kind: RequestKind | None = Field(default=None, description="Left out: read from the message.")
    email: str = Field(max_length=320, description="The requester's e-mail address.")
    name: str = Field(min_length=1, max_length=200, description="The requester's name.")
    message: str | None = Field(default=None, max_length=5000, description="Free text.")
    language: str | None = Field(
        default=None, max_length=8, description="Language of the answer, e.g. en or de."
    )
    order_number: str | None = Field(default=None, max_length=64)
    controller: str | None = Field(
        default=None, max_length=64, description="Register key when several shops are served."
    )
    corrections: dict[str, str] = Field(
        default_factory=dict,
        description="Rectification: field -> new value (first_name, last_name, email, phone, "
        "address1, address2, city, zip, country).",
    )

    @field_validator("corrections", mode="before")
    @classmethod
    def _known_corrections(cls, value: Any) -> dict[str, str]:
        return check_corrections(value)

    @field_validator(*_OPTIONAL, mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("name", "message", "order_number", "controller")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("contains a NUL character")  # no database stores it as text
        return value

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str) -> str:
        return _valid_email(value)

    @field_validator("language")
    @classmethod
    def _language_tag(cls, value: str | None) -> str | None:
        if value is None:
            return None
        tag = value.lower().replace("_", "-")
        if not _LANGUAGE.fullmatch(tag):
            raise ValueError("a language tag such as en or de-AT")
        return tag

    @model_validator(mode="after")
    def _kind_or_message(self) -> ContactForm:
        if self.kind is None and not self.message:
            raise ValueError(KIND_OR_MESSAGE)
        return self


def _valid_email(value: str) -> str:
    """The address normalised, checked for shape only: whether it receives mail, the identity
    challenge finds out (a DNS lookup here would leak who asked, and fail offline)."""
    import email_validator

    try:
        checked = email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise ValueError("not a valid e-mail address") from exc
    return checked.normalized


def parse_fields(body: bytes, kind: str) -> dict[str, Any]:
    """The fields of a JSON object or a form-encoded body; 400 when it is neither."""
    if kind == JSON:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:  # bad UTF-8 and bad JSON are ValueErrors
            raise IntakeRejection(400, "malformed_body", "the body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise IntakeRejection(400, "malformed_body", "the body must be a JSON object")
        return data
    if kind == FORM:
        try:
            pairs = parse_qsl(
                body.decode("utf-8"),
                keep_blank_values=True,
                strict_parsing=False,
                max_num_fields=MAX_FIELDS,
            )
        except ValueError as exc:  # bad UTF-8 or too many fields
            raise IntakeRejection(
                400, "malformed_body", "the body is not a readable form (UTF-8, at most 50 fields)"
            ) from exc
        fields: dict[str, Any] = {}
        for key, value in pairs:
            fields.setdefault(key, value)  # a repeated field counts once, the first time
        return fields
    raise IntakeRejection(415, "unsupported_media_type", f"send the body as {JSON} or {FORM}")


def problems(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as ``{"field", "message"}`` — without the rejected values."""
    found: list[dict[str, str]] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        field = ".".join(str(part) for part in error["loc"]) or "body"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "this field is required"
        found.append({"field": field, "message": message})
    return found


def _form_problems(exc: ValidationError) -> list[dict[str, str]]:
    """Like :func:`problems`; a whole-form rule (kind or message) is filed under ``kind``."""
    return [
        {**problem, "field": "kind"} if problem["field"] == "body" else problem
        for problem in problems(exc)
    ]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def validate_form(fields: dict[str, Any]) -> ContactForm:
    """The validated request, or 422 listing every field that fails and why.

    Pydantic checks the whole-form rule (a kind or a message) only once every field passed;
    it is added here as well, so a person sees all that is wrong at once.
    """
    if "corrections" not in fields and (given := form_corrections(fields)):
        fields = {**fields, "corrections": given}
    try:
        return ContactForm.model_validate(fields)
    except ValidationError as exc:
        found = _form_problems(exc)
        error = exc
    unnamed = _blank(fields.get("kind")) and _blank(fields.get("message"))
    if unnamed and all(problem["field"] != "kind" for problem in found):
        found.append({"field": "kind", "message": KIND_OR_MESSAGE})
    raise IntakeRejection(422, "invalid_fields", found) from error


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its ``$defs`` inlined, as an OpenAPI request body wants it."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


def contact_form_openapi(signature_header: str) -> dict[str, Any]:
    """The contact-form webhook's request body and headers for ``/docs`` (the route reads the
    raw body itself, to verify its signature before parsing)."""
    schema = _inline_refs(ContactForm.model_json_schema())
    return {
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": schema}, FORM: {"schema": schema}},
        },
        "parameters": [
            {"name": signature_header, "in": "header", "required": True,
             "schema": {"type": "string"}, "description": "t=<unix>,v1=<hex HMAC-SHA256>"},
            {"name": "Idempotency-Key", "in": "header", "required": False,
             "schema": {"type": "string"}},
        ],
    }  # fmt: skip
