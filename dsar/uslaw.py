"""US state consumer-privacy laws: which state a consumer lives in, and what its law says.

A business is bound by a state's law only where it meets that law's applicability thresholds,
as it asserts them in its register (:class:`dsar.register.applicability.Applicability`). For
each law the engine implements, this table gives the statutes a letter cites for each right,
the non-discrimination rule, and the appeal a denied consumer may bring: its deadline (from
receipt of the appeal) and the Attorney General the consumer may contact when it is denied.

The figures follow /work/shared/reference/legal.md; verify them against the statute text
before relying on them for a new state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dsar.enums import Regime, RequestKind
from dsar.errors import InputError

#: The 50 states, the District of Columbia and the inhabited territories (USPS codes).
_STATE_CODES = (
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR VI GU MP AS"
)
US_STATES: frozenset[str] = frozenset(_STATE_CODES.split())

#: Kinds that exist only under US state law: carried out without identity verification
#: (11 CCR § 7026(d), § 7027(e)) and honoured within 15 business days (§ 7026(f), § 7027(g)).
US_ONLY_KINDS: frozenset[RequestKind] = frozenset(
    {RequestKind.OPT_OUT, RequestKind.LIMIT_SENSITIVE}
)
NO_VERIFICATION_KINDS = US_ONLY_KINDS
OPT_OUT_BUSINESS_DAYS = 15

#: Why an opt-out or a limit needs no verification, as recorded in the audit trail.
NO_VERIFICATION_GROUND = (
    "opt-out and limit requests need no verifiable consumer request (11 CCR § 7026(d), § 7027(e))"
)


@dataclass(frozen=True)
class StateLaw:
    """One state's consumer-privacy law, as the engine applies it."""

    regime: Regime
    state: str
    state_name: str
    title: str
    statute: str  # the rights section, cited where no right-specific section is given
    rights: dict[RequestKind, str] = field(default_factory=dict)
    non_discrimination: str = ""
    appeal_days: int | None = None  # None: the law requires no appeal process
    appeal_extension_days: int = 0
    appeal_statute: str | None = None
    attorney_general: str | None = None
    attorney_general_url: str | None = None

    def cite(self, kind: RequestKind | str) -> str:
        """The statute a letter cites for ``kind``."""
        try:
            return self.rights.get(RequestKind(kind), self.statute)
        except ValueError:
            return self.statute

    @property
    def requires_appeals(self) -> bool:
        return self.appeal_days is not None


# fmt: off
STATE_LAWS: dict[Regime, StateLaw] = {
    law.regime: law
    for law in (
        StateLaw(
            Regime.CCPA, "CA", "California", "California Consumer Privacy Act",
            "Cal. Civ. Code § 1798.100",
            {
                RequestKind.ACCESS: "Cal. Civ. Code §§ 1798.110, 1798.115",
                RequestKind.PORTABILITY: "Cal. Civ. Code § 1798.130(a)(3)(B)(iii)",
                RequestKind.ERASURE: "Cal. Civ. Code § 1798.105",
                RequestKind.RECTIFICATION: "Cal. Civ. Code § 1798.106",
                RequestKind.OPT_OUT: "Cal. Civ. Code § 1798.120",
                RequestKind.LIMIT_SENSITIVE: "Cal. Civ. Code § 1798.121",
            },
            non_discrimination="Cal. Civ. Code § 1798.125",
        ),
        StateLaw(
            Regime.VCDPA, "VA", "Virginia", "Virginia Consumer Data Protection Act",
            "Va. Code § 59.1-577(A)",
            {
                RequestKind.ACCESS: "Va. Code § 59.1-577(A)(1)",
                RequestKind.RECTIFICATION: "Va. Code § 59.1-577(A)(2)",
                RequestKind.ERASURE: "Va. Code § 59.1-577(A)(3)",
                RequestKind.PORTABILITY: "Va. Code § 59.1-577(A)(4)",
                RequestKind.OPT_OUT: "Va. Code § 59.1-577(A)(5)",
            },
            non_discrimination="Va. Code § 59.1-578(A)(4)",
            appeal_days=60, appeal_statute="Va. Code § 59.1-577(C)",
            attorney_general="Office of the Attorney General of Virginia, Consumer Protection",
            attorney_general_url="https://www.oag.state.va.us/consumer-protection/",
        ),
        StateLaw(
            Regime.CPA, "CO", "Colorado", "Colorado Privacy Act",
            "C.R.S. § 6-1-1306(1)",
            {
                RequestKind.OPT_OUT: "C.R.S. § 6-1-1306(1)(a)",
                RequestKind.ACCESS: "C.R.S. § 6-1-1306(1)(b)",
                RequestKind.RECTIFICATION: "C.R.S. § 6-1-1306(1)(c)",
                RequestKind.ERASURE: "C.R.S. § 6-1-1306(1)(d)",
                RequestKind.PORTABILITY: "C.R.S. § 6-1-1306(1)(e)",
            },
            non_discrimination="C.R.S. § 6-1-1308",
            appeal_days=45, appeal_extension_days=60, appeal_statute="C.R.S. § 6-1-1306(3)",
            attorney_general="Colorado Attorney General, Consumer Protection Section",
            attorney_general_url="https://coag.gov/file-complaint/",
        ),
        StateLaw(
            Regime.CTDPA, "CT", "Connecticut", "Connecticut Data Privacy Act",
            "Conn. Gen. Stat. § 42-518(a)",
            non_discrimination="Conn. Gen. Stat. § 42-520",
            appeal_days=60, appeal_statute="Conn. Gen. Stat. § 42-518(d)",
            attorney_general="Connecticut Office of the Attorney General",
            attorney_general_url="https://portal.ct.gov/ag/sections/privacy",
        ),
        StateLaw(
            Regime.TDPSA, "TX", "Texas", "Texas Data Privacy and Security Act",
            "Tex. Bus. & Com. Code § 541.051",
            non_discrimination="Tex. Bus. & Com. Code § 541.101",
            appeal_days=60, appeal_statute="Tex. Bus. & Com. Code § 541.053",
            attorney_general="Office of the Attorney General of Texas, Consumer Protection",
            attorney_general_url=(
                "https://www.texasattorneygeneral.gov/consumer-protection/"
                "file-consumer-complaint"
            ),
        ),
    )
}
# fmt: on

#: The state law (if the engine implements one) for each state.
REGIME_OF_STATE: dict[str, Regime] = {law.state: regime for regime, law in STATE_LAWS.items()}

#: Regimes answered in US terms: the state laws, and a US business's own stated policy.
US_REGIMES: frozenset[Regime] = frozenset({*STATE_LAWS, Regime.POLICY})


def us_state(value: str) -> str:
    """A state as a person types it ("CA", "us-ca") as its USPS code; unknown → InputError."""
    code = value.strip().upper().removeprefix("US-")
    if code not in US_STATES:
        raise InputError(
            f"unknown US state {value!r}; expected a two-letter code such as CA, VA or CO"
        )
    return code


def law_of(regime: Regime | str) -> StateLaw | None:
    """The state law behind ``regime``, or ``None`` (GDPR, the business's policy, ...)."""
    try:
        return STATE_LAWS.get(Regime(regime))
    except ValueError:
        return None


def is_us(regime: Regime | str) -> bool:
    """Whether answers under ``regime`` are written in US terms."""
    try:
        return Regime(regime) in US_REGIMES
    except ValueError:
        return False


def check_kind_allowed(kind: RequestKind, regime: Regime) -> None:
    """Refuse a US-only request kind under a regime that knows no such right."""
    if kind in US_ONLY_KINDS and regime not in US_REGIMES:
        raise InputError(
            f"{kind.value!r} is a right under US state privacy law; this request falls under "
            f"{regime.value} — record an objection (Art. 21 GDPR) instead"
        )
