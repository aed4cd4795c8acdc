"""Per-counterparty wire profile: the choices the specs leave open (PRODUCT.md "our rules"), stored as data."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal

from baohan.gm import Layout, SM4Mode

TextEncoding = Literal["base64", "hex"]
AmountName = Literal["performanceBou", "performanceBond"]
_LIMIT_KEY = re.compile(r"[A-Z0-9]+(?:\.data)?\.[A-Za-z0-9]+", re.ASCII)


@dataclass(frozen=True, slots=True)
class Profile:
    """How one counterparty lays out SM2 ciphertexts, encodes binary, pads SM4 and tolerates clock skew;
    the name it reads ELY101's bond under, and the table limits it widens for longer values."""

    sm2_layout: Layout = Layout.C1C3C2
    sm2_prefix: bool = True
    encoding: TextEncoding = "base64"
    sm4_mode: SM4Mode = SM4Mode.ECB
    uid: str = "1234567812345678"
    max_clock_skew_seconds: int = 300
    # The table prints the ELY101 bond as "performanceBou" (cut off); a peer built from it looks for that.
    amount_name: AmountName = "performanceBou"
    # "ELY102.companyName" → characters, for a peer that accepts more than its table (README, "What we send").
    limits: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def __hash__(self) -> int:  # the limits are a mapping, which the generated hash cannot take
        return hash(repr(sorted(self.to_dict().items())))

    def __post_init__(self) -> None:
        # Coerce strings from JSON into the enums, and refuse anything unknown with the field's name.
        object.__setattr__(self, "sm2_layout", Layout(self.sm2_layout))
        object.__setattr__(self, "sm4_mode", SM4Mode(self.sm4_mode))
        if self.encoding not in ("base64", "hex"):
            raise ValueError(f"profile.encoding must be base64 or hex, not {self.encoding!r}")
        if not isinstance(self.sm2_prefix, bool):
            raise ValueError("profile.sm2_prefix must be true or false")
        if self.max_clock_skew_seconds < 0:
            raise ValueError("profile.max_clock_skew_seconds must not be negative")
        if self.amount_name not in ("performanceBou", "performanceBond"):
            raise ValueError(
                f"profile.amount_name must be performanceBou or performanceBond, not {self.amount_name!r}"
            )
        limits = dict(self.limits or {})
        for key, value in limits.items():
            # Which tables and fields exist is the protocol's to say (its registry checks the names).
            if not isinstance(key, str) or not _LIMIT_KEY.fullmatch(key):
                raise ValueError(
                    f"profile.limits: {key!r} is not a table and a field, e.g. ELY102.companyName"
                )
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"profile.limits.{key} must be a positive number of characters")
        object.__setattr__(self, "limits", MappingProxyType(limits))

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Profile:
        """A profile from stored JSON; missing keys take the defaults, unknown keys are refused."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"profile has unknown settings: {', '.join(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (enums as their wire strings)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["sm2_layout"] = self.sm2_layout.value
        out["sm4_mode"] = self.sm4_mode.value
        out["limits"] = dict(self.limits)
        return out
