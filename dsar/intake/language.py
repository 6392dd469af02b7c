"""Which language a message is written in, German or English, when the form did not say.

The answer goes out in the language of the request (Art. 12(1): intelligible to the person).
The most frequent words of a language are its function words — articles, pronouns,
prepositions, conjunctions, auxiliaries — and they make up a large share of any running text
whatever its topic, so counting them tells German from English reliably even in a few lines
(the classic stop-word method of language identification, as in Cavnar & Trenkle 1994 and the
frequency lists of the Leipzig Corpora Collection). Words both languages share (``in``, ``so``,
``an``, ``will``) are left out. Too few or too even a count decides nothing: the controller's
default language applies then.
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Frequent German function words (and the words a request to a shop almost always has).
GERMAN: frozenset[str] = _words(
    """der die und den von zu das mit sich des auf für ist im dem nicht ein eine als auch es
    werden aus er hat dass daß nach wird bei einer um sind noch wie einem über einen zum war
    haben nur oder aber vor zur bis mehr durch man sein wurde sei ich mir mich mein meine
    meinen meiner meines bitte ihre ihr ihnen wir uns unsere können kann möchte möchten danke
    gerne hallo guten tag freundlichen grüßen daten löschen auskunft habe
    keine kein"""
)
#: Frequent English function words (and the words a request to a shop almost always has).
ENGLISH: frozenset[str] = _words(
    """the of and to a is that for it as was with be by on not he i this are or his from at
    which but have had they you were their one all we can her has there been if more when
    would who no my me please your want could like thank thanks hello dear regards kind
    delete data about any what do does did our us should"""
)

_WORD = re.compile(r"[a-zäöüß]+")
#: Letters only German writes.
_GERMAN_LETTERS = re.compile(r"[äöüß]")

#: The fewest telling words, and how many times the one language's count must exceed the other's.
MIN_WORDS = 2
MARGIN = 2.0


def detect_language(text: str) -> str | None:
    """``de`` or ``en`` for the language ``text`` is written in, or ``None`` if it cannot tell."""
    lowered = text.lower()
    words = _WORD.findall(lowered)
    german = sum(word in GERMAN for word in words) + min(len(_GERMAN_LETTERS.findall(lowered)), 3)
    english = sum(word in ENGLISH for word in words)
    if max(german, english) < MIN_WORDS:
        return None
    if german >= MARGIN * english and german > english:
        return "de"
    if english >= MARGIN * german and english > german:
        return "en"
    return None
