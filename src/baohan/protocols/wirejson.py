"""JSON as it arrives from a counterparty: UTF-8 text whose strings are all real Unicode characters.

The standard parser turns an escape such as ``"\\ud800"`` into a lone surrogate, a ``str`` that no UTF-8
text can carry: it would fail later, far from the input (hashing, storing, answering), as an unexpected
error. Here it fails at the door, with a reason.
"""

from __future__ import annotations

import json
from typing import Any


class NotUnicode(ValueError):
    """Parsed JSON holding a string that is not Unicode text (a lone surrogate from a ``\\u`` escape)."""


def parse_json(raw: bytes) -> Any:
    """``raw`` (UTF-8) as a JSON value; ValueError if it is not, NotUnicode if a ``\\u`` escape leaves a lone surrogate."""
    text = raw.decode("utf-8")
    value = json.loads(text)
    # Only a \uD800–\uDFFF escape can make a lone surrogate; the scan runs only when one may be there.
    if "\\ud" in text or "\\uD" in text:
        _require_unicode(value)
    return value


def _require_unicode(value: Any) -> None:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise NotUnicode(
                    "a \\u escape leaves a lone surrogate, which is not a Unicode character"
                ) from None
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
