"""Per-counterparty wire profile: the choices the specs leave open (PRODUCT.md "our rules"), stored as data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from baohan.gm import Layout, SM4Mode

TextEncoding = Literal["base64", "hex"]


@dataclass(frozen=True, slots=True)
class Profile:
    """How one counterparty lays out SM2 ciphertexts, encodes binary, pads SM4 and tolerates clock skew."""

    sm2_layout: Layout = Layout.C1C3C2
    sm2_prefix: bool = True
    encoding: TextEncoding = "base64"
    sm4_mode: SM4Mode = SM4Mode.ECB
    uid: str = "1234567812345678"
    max_clock_skew_seconds: int = 300

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
        out = asdict(self)
        out["sm2_layout"] = self.sm2_layout.value
        out["sm4_mode"] = self.sm4_mode.value
        return out
