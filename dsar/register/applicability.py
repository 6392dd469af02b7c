"""Why a business applies the privacy laws it applies: the facts it asserts, in its register.

US state laws bind a business only above thresholds (revenue, number of consumers, revenue
from selling data) that only the business knows. The engine cannot check them; it records what
the business asserts, where it asserts it, and the laws that follow, plus the business's stated
policy for consumers whose state law does not apply — so no answer cites a law that does not
apply, and where the privacy policy is silent the register says so in plain words.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dsar.enums import Regime

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Applicability(BaseModel):
    """The facts that decide which laws apply, as the business asserts them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    asserted_by: Text  # whose assertion the facts are
    source: Text  # where the business states them (its policy, a declaration, ...)
    established_in: Text
    sells_to: Text
    thresholds: Text  # which thresholds it meets, or that it states none
    laws: tuple[Regime, ...] = Field(min_length=1)  # the laws that follow: the register's regimes
    other_consumers: Text  # the stated policy for consumers whose state law does not apply
