"""Every pattern the wire checks with accepts ASCII only (``\\d`` would take full-width digits ２０２６…)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import baohan.protocols
from baohan.protocols.procurement.models import TRANSCODES


def _module_patterns() -> list[tuple[str, re.Pattern[str]]]:
    found = []
    for info in pkgutil.walk_packages(baohan.protocols.__path__, "baohan.protocols."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                found.append((f"{info.name}.{name}", value))
    return found


def _schema_patterns(node: Any, where: str) -> list[tuple[str, re.Pattern[str]]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                found.append((where, re.compile(value)))
            else:
                found += _schema_patterns(value, f"{where}.{key}")
    elif isinstance(node, list):
        for item in node:
            found += _schema_patterns(item, where)
    return found


MODULE_PATTERNS = _module_patterns()
SCHEMA_PATTERNS = [
    found
    for t in TRANSCODES.values()
    for model in (t.request, t.response_data)
    if model is not None
    for found in _schema_patterns(model.model_json_schema(), model.__name__)
]


def test_the_walk_finds_the_patterns() -> None:
    names = {name for name, _ in MODULE_PATTERNS}
    assert {"baohan.protocols.fields._AMOUNT", "baohan.protocols.procurement.envelope._REQTIME"} <= names
    assert SCHEMA_PATTERNS


@pytest.mark.parametrize(("name", "pattern"), MODULE_PATTERNS, ids=[n for n, _ in MODULE_PATTERNS])
def test_module_patterns_are_compiled_ascii(name: str, pattern: re.Pattern[str]) -> None:
    assert pattern.flags & re.ASCII, f"{name} must be compiled with re.ASCII"


# A scanner, not a rule: it steps over whole JSON strings, whatever they hold.
SCANNERS = {"baohan.protocols.wirejson._BRACKETS_OUTSIDE_STRINGS"}
RULES = [(n, p) for n, p in MODULE_PATTERNS + SCHEMA_PATTERNS if n not in SCANNERS]
FULL_WIDTH = {ord(c): 0xFF10 + int(c) for c in "0123456789"} | {
    ord(c): 0xFF21 + ord(c) - ord("A") for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
}


@pytest.mark.parametrize("pattern", [p for _, p in RULES], ids=[n for n, _ in RULES])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_every_string_a_pattern_accepts_is_ascii(pattern: re.Pattern[str], data: st.DataObject) -> None:
    text = data.draw(st.from_regex(pattern, fullmatch=True))
    assert text.isascii(), (pattern.pattern, text)
    wide = text.translate(FULL_WIDTH)
    if wide != text:
        assert not pattern.fullmatch(wide), (pattern.pattern, wide)
