"""The answer is in the language of the request: the form's, else the message's."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from dsar.intake import detect_language
from tests.intake.conftest import VALID, TestClient, contact_headers, encode, stored_requests

GERMAN = (
    "Guten Tag, ich möchte wissen, welche Daten Sie über mich gespeichert haben. "
    "Bitte schicken Sie mir eine Kopie. Mit freundlichen Grüßen"
)
ENGLISH = "Hello, please tell me which data you hold about me and send me a copy. Kind regards"


class TestDetectLanguage:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (GERMAN, "de"),
            (ENGLISH, "en"),
            ("Bitte löschen Sie mein Konto und alle meine Daten.", "de"),
            ("Please delete my account and all of my data.", "en"),
            ("Auskunft nach Art. 15 DSGVO, bitte.", "de"),
        ],
    )
    def test_the_language_of_a_message_is_read_from_its_common_words(
        self, text: str, expected: str
    ) -> None:
        """German and English messages are told apart by their most frequent words."""
        assert detect_language(text) == expected

    @pytest.mark.parametrize("text", ["", "DSGVO Art. 15", "Maria Muster, 1060 Wien", "ok"])
    def test_too_little_to_go_on_decides_nothing(self, text: str) -> None:
        """Names, numbers and single words are no language: the default applies."""
        assert detect_language(text) is None


class TestContactFormLanguage:
    def _post(self, client: TestClient, **changes: object) -> None:
        payload = {k: v for k, v in {**VALID, **changes}.items() if v is not None}
        body = encode(payload)
        assert (
            client.post(
                "/webhooks/contact-form", content=body, headers=contact_headers(body)
            ).status_code
            == 202
        )

    def test_a_german_message_without_language_is_answered_in_german(
        self, client: TestClient, engine: Engine
    ) -> None:
        """No ``language`` in the form: the message's language (German) is the request's."""
        self._post(client, language=None, message=GERMAN)
        [stored] = stored_requests(engine)
        assert stored.language == "de"

    def test_the_forms_language_wins_over_the_message(
        self, client: TestClient, engine: Engine
    ) -> None:
        """A form that says ``en`` gets English, whatever the message is written in."""
        self._post(client, language="en", message=GERMAN)
        [stored] = stored_requests(engine)
        assert stored.language == "en"
