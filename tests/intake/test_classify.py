"""Free-text messages are read for the right they invoke, in English and German."""

from __future__ import annotations

import pytest

from dsar.enums import RequestKind
from dsar.intake import classify, normalise

K = RequestKind


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Please delete my data.", K.ERASURE),
        ("I want you to erase my account, right to be forgotten.", K.ERASURE),
        ("Bitte löschen Sie alle meine Daten.", K.ERASURE),
        ("LÖSCHUNG meines Kontos", K.ERASURE),
        ("I would like a copy of my personal data.", K.ACCESS),
        ("Ich bitte um Auskunft nach Art. 15 DSGVO.", K.ACCESS),
        ("Welche Daten haben Sie über mich gespeichert?", K.ACCESS),
        ("Please correct my address, it is wrong.", K.RECTIFICATION),
        ("Antrag auf Berichtigung meiner Anschrift", K.RECTIFICATION),
        ("Please restrict the processing of my data.", K.RESTRICTION),
        ("Ich verlange die Einschränkung der Verarbeitung.", K.RESTRICTION),
        ("Send me my data in a machine-readable format.", K.PORTABILITY),
        ("Recht auf Datenübertragbarkeit", K.PORTABILITY),
        ("Unsubscribe me from the newsletter.", K.OBJECTION),
        ("Ich lege Widerspruch gegen die Werbung ein.", K.OBJECTION),
        ("Bitte melden Sie mich vom Newsletter ab.", K.OBJECTION),
        ("I withdraw my consent to marketing e-mails.", K.OBJECTION),
    ],
)
def test_clear_messages_are_classified_confidently(message: str, kind: RequestKind) -> None:
    """A message that names one right outright is read as that right, confidently."""
    result = classify(message)
    assert result.kind == kind
    assert result.confident


@pytest.mark.parametrize(
    ("message", "best_guess"),
    [
        ("Hello, where is my parcel?", K.ACCESS),
        ("Hallo, ich habe eine Frage.", K.ACCESS),
        ("Send me a copy of my data and then delete it.", K.ACCESS),
        ("Bitte löschen Sie mich und melden Sie mich vom Newsletter ab.", K.OBJECTION),
        ("My data is wrong.", K.RECTIFICATION),
    ],
)
def test_unclear_messages_are_flagged_unsure(message: str, best_guess: RequestKind) -> None:
    """No keyword, only a hint, or two rights at once: a best guess, marked for staff."""
    result = classify(message)
    assert result.kind == best_guess
    assert not result.confident


def test_ties_lean_to_the_least_invasive_kind() -> None:
    """When erasure and access score alike, the guess is access: it changes nothing."""
    assert classify("delete? or a copy of my data?").kind == K.ACCESS


def test_normalise_spells_out_umlauts() -> None:
    """Umlauts and ß match their transliterations, as people type them either way."""
    assert normalise("  Löschung   ÜBER Straße ") == "loeschung ueber strasse"


def test_classification_is_stored_as_kind_and_confidence() -> None:
    """The stored shape is exactly {"kind", "confident"}."""
    assert classify("delete my data").as_details() == {"kind": "erasure", "confident": True}
