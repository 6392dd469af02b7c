"""Whether a register gives every text in each language its controller answers in."""

from __future__ import annotations

from collections.abc import Sequence

from dsar.register.model import Register
from dsar.register.translated import Translated


def missing_translations(register: Register) -> list[str]:
    """Each text the register lacks in one of the controller's ``languages``, by location
    (``purposes.4.translations.de.retention``); empty when the register is complete."""
    ctl = register.controller
    wanted = [language for language in ctl.languages if language != ctl.default_language]
    sections: dict[str, Sequence[Translated]] = {
        "categories": register.categories,
        "purposes": register.purposes,
        "recipients": register.recipients,
        "retention_exceptions": register.retention_exceptions,
    }
    missing = []
    for language in wanted:
        for section, entries in sections.items():
            for index, entry in enumerate(entries):
                missing += [
                    f"{section}.{index}.translations.{language}.{name}"
                    for name in entry.untranslated(language)
                ]
    return missing
