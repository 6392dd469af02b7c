"""Register texts in more than one language: the answer is in the person's language (Art. 12(1)),
and so are the register's purposes, categories, recipients and retention duties it quotes.

An entry's texts are written in the controller's ``default_language``; ``translations`` gives
them in each other language the controller answers in (``Controller.languages``)::

    - key: newsletter
      description: Sending the e-mail newsletter about the shop's offers.
      translations:
        de:
          description: Versand des E-Mail-Newsletters über die Angebote des Shops.

``dsar.register.completeness.missing_translations`` lists what is still untranslated
(``dsar register check``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, StringConstraints, model_validator

from dsar.register.values import _Located

Language = Literal["en", "de"]
_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Translated(BaseModel):
    """An entry whose ``TRANSLATABLE`` texts may be given in other languages."""

    TRANSLATABLE: ClassVar[tuple[str, ...]] = ()

    translations: Mapping[Language, Mapping[str, _Text]] = {}

    @model_validator(mode="after")
    def _translates_known_texts(self) -> Translated:
        for language, texts in self.translations.items():
            for name in texts:
                if name not in self.TRANSLATABLE:
                    allowed = ", ".join(self.TRANSLATABLE)
                    raise _Located(
                        f"translations.{language}.{name}", f"not a translatable text ({allowed})"
                    )
        return self

    def text(self, name: str, language: str) -> str:
        """The text ``name`` in ``language``, or as written where it has no translation."""
        texts = self.translations.get(language, {})  # type: ignore[call-overload]
        given = texts.get(name)
        return str(given) if given else str(getattr(self, name))

    def untranslated(self, language: str) -> Iterator[str]:
        """The names of this entry's texts that have no ``language`` version."""
        texts = self.translations.get(language, {})  # type: ignore[call-overload]
        for name in self.TRANSLATABLE:
            value: Any = getattr(self, name)
            default = type(self).model_fields[name].default
            if value and value != default and name not in texts:
                yield name
