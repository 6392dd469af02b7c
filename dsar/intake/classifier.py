"""Reading which right a free-text message invokes, when the sender named none.

A request needs no particular form or wording (GDPR Art. 12(2): the controller facilitates the
exercise of rights; EDPB 01/2022 §§52-54: any request that makes clear what the subject wants
counts). A contact form that only carries a message must therefore still start the clock, so
the message is read for the usual words in English and German and stored with the best guess.
When the words point nowhere or in two directions the guess is marked unsure, and staff confirm
the kind before anything is changed: erasing data on a misread "please send me my data" could
not be undone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dsar.enums import RequestKind

#: A keyword pattern that names a right outright, and one that only hints at it.
STRONG = 2
WEAK = 1

#: Tie-break when two kinds score alike: the least invasive first, so a doubtful guess never
#: leans towards changing or deleting data.
TIE_ORDER: tuple[RequestKind, ...] = (
    RequestKind.ACCESS,
    RequestKind.RECTIFICATION,
    RequestKind.RESTRICTION,
    RequestKind.OBJECTION,
    RequestKind.PORTABILITY,
    RequestKind.ERASURE,
)

_ARTICLE = r"\bart(?:icle|ikel|\.)?\s?{n}\b"

# Patterns run on text that :func:`normalise` has folded (lower case, umlauts spelt out), so
# "Löschung", "LOESCHEN" and "lösche" all meet ``loesch``.
_KEYWORDS: dict[RequestKind, tuple[tuple[str, int], ...]] = {
    RequestKind.ACCESS: (
        (r"\bauskunft\w*", STRONG),
        (r"\bsubject access\b|\baccess request\b|\bdsar\b|\bsar\b", STRONG),
        (r"\bcopy of (?:all )?(?:my|the) (?:personal )?(?:data|information)\b", STRONG),
        (r"\b(?:what|which) (?:personal )?(?:data|information)\b", STRONG),
        (r"\baccess to my (?:personal )?(?:data|information)\b", STRONG),
        (r"\bkopie (?:meiner|der|aller) (?:personenbezogenen )?daten\b", STRONG),
        (r"\bwelche (?:personenbezogenen )?daten\b", STRONG),
        (_ARTICLE.format(n="15"), STRONG),
        (r"\baccess\b|\bcopy\b|\bkopie\b", WEAK),
    ),
    RequestKind.RECTIFICATION: (
        (r"\bberichtig\w*|\brectif\w*|\bkorrigier\w*|\bkorrektur\w*", STRONG),
        (r"\bcorrect (?:my|the)\b|\bcorrection\b", STRONG),
        (_ARTICLE.format(n="16"), STRONG),
        (r"\bupdate my\b|\bchange my\b|\bwrong\b|\bincorrect\b", WEAK),
        (r"\bfalsch\w*|\baender\w*|\baktualisier\w*", WEAK),
    ),
    RequestKind.ERASURE: (
        (r"\bdelet\w*|\berase\b|\berasure\b|\bright to be forgotten\b|\bforget me\b", STRONG),
        (r"\bremove (?:all )?my (?:personal )?(?:data|information|account)\b", STRONG),
        (r"\bclose my account\b", STRONG),
        (r"\bloesch\w*|\bvergessen werden\b|\bkonto (?:schliessen|aufloesen)\b", STRONG),
        (_ARTICLE.format(n="17"), STRONG),
        (r"\bremove\b|\bentfern\w*", WEAK),
    ),
    RequestKind.RESTRICTION: (
        (r"\brestrict\w*|\beinschraenk\w*|\bsperr\w*", STRONG),
        (_ARTICLE.format(n="18"), STRONG),
        (r"\bblock\w*|\bfreeze\b|\bstop (?:using|processing)\b", WEAK),
    ),
    RequestKind.PORTABILITY: (
        (r"\bportab\w*|\b(?:daten)?uebertragbar\w*|\bdatenuebertragung\w*", STRONG),
        (r"\bmachine[- ]readable\b|\bmaschinenlesbar\w*", STRONG),
        (_ARTICLE.format(n="20"), STRONG),
        (r"\bexport\w*|\btransfer my data\b|\buebertrag\w*", WEAK),
    ),
    RequestKind.OBJECTION: (
        (r"\bunsubscrib\w*|\bopt[- ]?out\b|\babmeld\w*|\babbestell\w*|\baustrag\w*", STRONG),
        # German separable verbs: "melden Sie mich vom Newsletter ab", "bestelle ... ab"
        (r"\b(?:melde|bestelle)\w* (?:[\w-]+ ){0,5}ab\b|\btrage\w* (?:[\w-]+ ){0,5}aus\b", STRONG),
        (r"\bwiderspruch\w*|\bwidersprech\w*|\bobjection\b|\bobject to\b", STRONG),
        (r"\bwithdraw (?:my )?consent\b|\beinwilligung\w* widerruf\w*|\bwiderruf\w*", STRONG),
        (r"\bstop sending\b|\bno (?:more )?(?:marketing|newsletters?|e-?mails)\b", STRONG),
        (r"\bkeine (?:werbung|newsletter|e-?mails)\b", STRONG),
        (_ARTICLE.format(n="21"), STRONG),
        (r"\bnewsletter\w*|\bmarketing\b|\bwerbung\b|\bspam\b", WEAK),
    ),
}

_COMPILED: dict[RequestKind, tuple[tuple[re.Pattern[str], int], ...]] = {
    kind: tuple((re.compile(pattern), weight) for pattern, weight in patterns)
    for kind, patterns in _KEYWORDS.items()
}

_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


@dataclass(frozen=True)
class Classification:
    """The kind a message most likely asks for, and whether that reading is safe to act on."""

    kind: RequestKind
    confident: bool

    def as_details(self) -> dict[str, Any]:
        """The shape stored as ``Request.details["classification"]``."""
        return {"kind": self.kind.value, "confident": self.confident}


def normalise(text: str) -> str:
    """Lower case with German umlauts spelt out, whitespace collapsed."""
    return " ".join(text.casefold().translate(_FOLD).split())


def scores(text: str) -> dict[RequestKind, int]:
    """Each kind's score: the weights of its patterns found in ``text``, each counted once."""
    folded = normalise(text)
    return {
        kind: sum(weight for pattern, weight in patterns if pattern.search(folded))
        for kind, patterns in _COMPILED.items()
    }


def classify(text: str) -> Classification:
    """The best-guess kind of ``text``; confident only when one kind clearly leads.

    Confident means the leading kind was named outright (a strong keyword, or several hints)
    and no other kind was: a message naming two rights ("send me my data and delete it") is a
    question for staff, not for a keyword list. Otherwise the guess — or access, when nothing
    matched — is returned unsure, for staff to confirm.
    """
    found = scores(text)
    best = max(TIE_ORDER, key=lambda kind: (found[kind], -TIE_ORDER.index(kind)))
    top = found[best]
    if top == 0:
        return Classification(kind=RequestKind.ACCESS, confident=False)
    runner_up = max(score for kind, score in found.items() if kind is not best)
    return Classification(kind=best, confident=top >= STRONG and runner_up < STRONG)
