"""JSON as it arrives from a counterparty: UTF-8 text whose strings are all real Unicode characters, nested
no deeper than a message can be.

The standard parser turns an escape such as ``"\\ud800"`` into a lone surrogate, a ``str`` that no UTF-8
text can carry, and it recurses on nesting, so a thousand brackets exhaust the stack (there, or in whatever
walks the value next). Either would fail later, far from the input, as an unexpected error. Here both fail
at the door, with a reason.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

# A message is an object of strings (depth 1); the margin is for peers' extensions, never for recursion.
MAX_DEPTH = 16
_BRACKETS_OUTSIDE_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|([\[\]{}])', re.ASCII)


class NotUnicode(ValueError):
    """Parsed JSON refused for its content (a lone surrogate, nesting deeper than ``MAX_DEPTH``); the text
    says why."""


def parse_json(raw: bytes, *, exact_numbers: bool = False) -> Any:
    """``raw`` (UTF-8) as a JSON value; ValueError if it is not, NotUnicode if a ``\\u`` escape leaves a
    lone surrogate or it nests deeper than ``MAX_DEPTH``. ``exact_numbers`` reads fractions as Decimal
    (their exact text), for a protocol that may send amounts as JSON numbers."""
    text = raw.decode("utf-8")
    # Counted before parsing: the parser itself recurses once per level.
    if text.count("[") + text.count("{") > MAX_DEPTH:
        _require_shallow(text)
    value = json.loads(text, parse_float=Decimal) if exact_numbers else json.loads(text)
    # Only a \uD800–\uDFFF escape can make a lone surrogate; the scan runs only when one may be there.
    if "\\ud" in text or "\\uD" in text:
        _require_unicode(value)
    return value


def _require_shallow(text: str) -> None:
    """NotUnicode if brackets outside strings nest deeper than ``MAX_DEPTH`` (malformed JSON is the parser's)."""
    depth = 0
    for token in _BRACKETS_OUTSIDE_STRINGS.finditer(text):
        bracket = token.group(1)
        if bracket is None:
            continue  # a whole string, skipped in one step
        if bracket in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise NotUnicode(f"nested deeper than {MAX_DEPTH} levels")
        else:
            depth -= 1


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
