"""Amounts in figures and in Chinese capitals (大写金额), checked by examples and by an independent parser."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.domain.money import LIMIT, amount_in_chinese, format_amount

_DIGITS = {c: i for i, c in enumerate("零壹贰叁肆伍陆柒捌玖")}
_PLACES = {"拾": 10, "佰": 100, "仟": 1000}
_UNITS = {"亿": 10**8, "万": 10**4}


def parse_capitals(text: str) -> Decimal:
    """Read Chinese capitals back into a Decimal, written here without looking at the implementation."""
    text = text.removesuffix("整")
    whole, sep, fraction = text.partition("元")
    if not sep:
        whole, fraction = "", whole
    total = section = digit = 0
    for char in whole:
        if char in _DIGITS:
            digit = _DIGITS[char]
        elif char in _PLACES:
            section += digit * _PLACES[char]
            digit = 0
        else:
            unit = _UNITS[char]
            # A unit larger than everything read so far scales it too: 壹万亿, 壹拾贰万叁仟亿.
            total = (total + section + digit) * unit if total < unit else total + (section + digit) * unit
            section = digit = 0
    total += section + digit
    cents = 0
    for value, unit in re.findall(r"([壹贰叁肆伍陆柒捌玖])([角分])", fraction):
        cents += _DIGITS[value] * (10 if unit == "角" else 1)
    assert re.fullmatch(r"零?([壹贰叁肆伍陆柒捌玖]角)?([壹贰叁肆伍陆柒捌玖]分)?", fraction), fraction
    return Decimal(total) + Decimal(cents) / 100


@pytest.mark.parametrize(
    ("amount", "capitals"),
    [
        ("125000.00", "壹拾贰万伍仟元整"),
        ("1234.56", "壹仟贰佰叁拾肆元伍角陆分"),
        # The PBOC examples for filling in bills (正确填写票据和结算凭证的基本规定).
        ("1409.50", "壹仟肆佰零玖元伍角"),
        ("6007.14", "陆仟零柒元壹角肆分"),
        ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
        ("107000.53", "壹拾万柒仟元伍角叁分"),
        ("16409.02", "壹万陆仟肆佰零玖元零贰分"),
        ("325.04", "叁佰贰拾伍元零肆分"),
        ("10", "壹拾元整"),
        ("15", "壹拾伍元整"),
        ("100700", "壹拾万零柒佰元整"),
        ("100000007", "壹亿零柒元整"),
        ("100000000", "壹亿元整"),
        ("105000000", "壹亿零伍佰万元整"),
        ("1000000000000", "壹万亿元整"),
        ("1000010000000", "壹万亿壹仟万元整"),
        ("1000100000000", "壹万零壹亿元整"),
        ("9999999999999999.99", "玖仟玖佰玖拾玖万玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
        ("12345678901234.50", "壹拾贰万叁仟肆佰伍拾陆亿柒仟捌佰玖拾万壹仟贰佰叁拾肆元伍角"),
        ("0.50", "伍角"),
        ("0.05", "伍分"),
        ("0.55", "伍角伍分"),
        ("0", "零元整"),
        ("-0.00", "零元整"),
        ("1E+3", "壹仟元整"),
        ("2.500", "贰元伍角"),
    ],
)
def test_known_amounts(amount: str, capitals: str) -> None:
    assert amount_in_chinese(Decimal(amount)) == capitals
    assert parse_capitals(capitals) == Decimal(amount)


@pytest.mark.parametrize(
    ("amount", "figures"),
    [
        ("125000", "125,000.00"),
        ("1234.5", "1,234.50"),
        ("0", "0.00"),
        ("-0", "0.00"),
        ("999.99", "999.99"),
        ("9999999999999999.99", "9,999,999,999,999,999.99"),
    ],
)
def test_format_amount(amount: str, figures: str) -> None:
    assert format_amount(Decimal(amount)) == figures


@pytest.mark.parametrize(
    ("amount", "problem"),
    [
        ("-0.01", "negative"),
        ("-100", "negative"),
        ("1.001", "more than 2 decimal places"),
        ("0.005", "more than 2 decimal places"),
        ("NaN", "not a finite number"),
        ("Infinity", "not a finite number"),
        ("1E+16", "too large"),
    ],
)
@pytest.mark.parametrize("function", [amount_in_chinese, format_amount])
def test_bad_amounts_are_refused_by_name(amount: str, problem: str, function: object) -> None:
    assert callable(function)
    with pytest.raises(ValueError, match=problem):
        function(Decimal(amount))


@pytest.mark.parametrize("amount", [125000, 1.5, "1.50"])
def test_only_decimal_is_money(amount: object) -> None:
    with pytest.raises(TypeError, match="Decimal"):
        amount_in_chinese(amount)  # type: ignore[arg-type]


# Zeros are where the rules bite, so most generated digits are zeros.
_zero_heavy = st.lists(st.sampled_from("0000000123456789"), min_size=1, max_size=18).map(
    lambda digits: Decimal(int("".join(digits)) % (LIMIT * 100)).scaleb(-2)
)
amounts = st.one_of(_zero_heavy, st.integers(0, int(LIMIT * 100) - 1).map(lambda c: Decimal(c).scaleb(-2)))


@given(amounts)
def test_capitals_read_back_to_the_amount(amount: Decimal) -> None:
    assert parse_capitals(amount_in_chinese(amount)) == amount


@given(amounts)
def test_capitals_follow_the_writing_rules(amount: Decimal) -> None:
    text = amount_in_chinese(amount)
    assert set(text) <= set("零壹贰叁肆伍陆柒捌玖拾佰仟万亿元角分整")
    assert "零零" not in text
    assert text == "零元整" or not re.search(r"零[万亿元角分整拾佰仟]", text)  # 零 never precedes a unit
    assert not text.startswith("零") or text == "零元整"
    assert not re.search(r"(^|[^壹贰叁肆伍陆柒捌玖])[拾佰仟]", text)  # 壹拾, never a bare 拾
    cents = int(amount * 100)
    assert text.endswith("整") == (cents % 100 == 0)
    assert ("元" in text) == (cents >= 100 or cents == 0)
    if cents >= 100 and cents % 100 and cents % 100 < 10:
        assert "元零" in text  # 角 is zero but 分 is not


@given(amounts)
def test_figures_read_back_to_the_amount(amount: Decimal) -> None:
    text = format_amount(amount)
    assert re.fullmatch(r"\d{1,3}(,\d{3})*\.\d{2}", text)
    assert Decimal(text.replace(",", "")) == amount
