"""Per-counterparty tender wire profile: the choices spec 004 leaves open (PRODUCT.md "Tender wire
defaults"), stored as data."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from baohan.gm import Layout

SignMethod = Literal["hmac-sm3", "sm3", "sm3-key", "sm3-appsecret"]
BodyShape = Literal["json", "form"]
KeyText = Literal["hex", "ascii"]
FileDigest = Literal["md5", "sm3"]
TextEncoding = Literal["base64", "hex"]

_CHOICES: dict[str, tuple[str, ...]] = {
    "sign": ("hmac-sm3", "sm3", "sm3-key", "sm3-appsecret"),
    "body": ("json", "form"),
    "sm4_key_text": ("hex", "ascii"),
    "file_digest": ("md5", "sm3"),
    "encoding": ("base64", "hex"),
}
_FLAGS = ("fixed_file_key", "upload_before_notice", "amounts_as_numbers", "uses_cancel", "sm2_prefix")
# Least value of each whole-number setting; a slice must hold at least one SM4 block.
_MINIMA = {"slice_size": 16, "max_clock_skew_seconds": 0}


@dataclass(frozen=True, slots=True)
class TenderProfile:
    """How one tender counterparty signs, shapes bodies, writes keys, encrypts files and lays out SM2."""

    sign: SignMethod = "hmac-sm3"
    body: BodyShape = "json"
    sm4_key_text: KeyText = "hex"
    # One key and iv per counterparty for every file, instead of a fresh pair per file.
    fixed_file_key: bool = False
    # The file's slices go up before baohannotice announces it (some platforms want them first).
    upload_before_notice: bool = False
    file_digest: FileDigest = "md5"
    # How WE send amounts; numbers are always accepted on read.
    amounts_as_numbers: bool = False
    # canclenotice is optional in the spec; a platform that does not take it is never sent one.
    uses_cancel: bool = True
    sm2_layout: Layout = Layout.C1C3C2
    sm2_prefix: bool = True
    encoding: TextEncoding = "base64"
    slice_size: int = 1048576
    max_clock_skew_seconds: int = 300
    platformcode: str = ""

    def __post_init__(self) -> None:
        # Values come from stored JSON: each is checked here, and a refusal names the setting.
        try:
            object.__setattr__(self, "sm2_layout", Layout(self.sm2_layout))
        except ValueError:
            layouts = ", ".join(layout.value for layout in Layout)
            raise ValueError(
                f"profile.sm2_layout must be one of {layouts}, not {self.sm2_layout!r}"
            ) from None
        for name, choices in _CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                raise ValueError(f"profile.{name} must be one of {', '.join(choices)}, not {value!r}")
        for name in _FLAGS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"profile.{name} must be true or false")
        for name, least in _MINIMA.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"profile.{name} must be a whole number of at least {least}")
        if not isinstance(self.platformcode, str) or len(self.platformcode) > 50:
            raise ValueError("profile.platformcode must be text of at most 50 characters")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TenderProfile:
        """A profile from stored JSON; missing keys take the defaults, unknown keys are refused by name."""
        data = dict(data or {})
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"profile has unknown settings: {', '.join(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the layout as its wire string)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["sm2_layout"] = self.sm2_layout.value
        return out
