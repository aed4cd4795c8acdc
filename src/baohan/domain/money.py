"""Money as printed on a guarantee: figures with thousands separators and Chinese capitals (大写金额).

The capitals follow the PBOC rules for filling in bills (《正确填写票据和结算凭证的基本规定》):
壹拾 is always written out; zeros inside a four-digit section (个, 万, 亿, 万亿) read as one 零, zeros at the
end of a section are not read (the rules allow either for 万位/元位 zeros; we pick the shorter form);
元整 when there are no 角 or 分; 零 between 元 and 分 when 角 is zero.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_PLACES = ("", "拾", "佰", "仟")
_SECTIONS = ("", "万", "亿", "万")
_CENT = Decimal("0.01")
# 万亿 is the largest section written, so 16 integer digits are the most we can spell.
LIMIT = Decimal(10) ** 16


def _checked(amount: Decimal) -> Decimal:
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, not {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError(f"amount {amount} is not a finite number")
    if amount < 0:
        raise ValueError(f"amount {amount} is negative")
    if amount >= LIMIT:
        raise ValueError(f"amount {amount} is too large (at most 16 integer digits, up to 万亿)")
    try:
        cents = amount.quantize(_CENT)
    except InvalidOperation:
        raise ValueError(f"amount {amount} cannot be expressed in cents") from None
    if cents != amount:
        raise ValueError(f"amount {amount} has more than 2 decimal places")
    return abs(cents)  # abs turns Decimal("-0.00") into 0.00


def checked(amount: Decimal) -> Decimal:
    """``amount`` in cents; ValueError if it is negative, not finite, finer than a cent or beyond 万亿."""
    return _checked(amount)


def _integer_in_chinese(value: int) -> str:
    digits = str(value)
    out: list[str] = []
    zero_pending = False
    section_has_digit = False
    for index, char in enumerate(digits):
        power = len(digits) - 1 - index
        digit = int(char)
        if digit == 0:
            zero_pending = True
        else:
            if zero_pending and out:
                out.append("零")
            out.append(_DIGITS[digit] + _PLACES[power % 4])
            zero_pending = False
            section_has_digit = True
        if power % 4 == 0 and power > 0:
            if section_has_digit:
                out.append(_SECTIONS[power // 4])
                # 万亿 is 万 of 亿: the 亿 that closes the next section serves both (十二万三千亿),
                # so 亿 is written here only when that section is all zeros (十二万亿).
                if power == 12 and digits[index + 1 : index + 5] == "0000":
                    out.append("亿")
            # Zeros that end a section are not read (十万七千, not 十万零七千).
            zero_pending = False
            section_has_digit = False
    return "".join(out)


def amount_in_chinese(amount: Decimal) -> str:
    """The amount in Chinese capitals, e.g. 125000.00 -> 壹拾贰万伍仟元整, 1234.56 -> 壹仟贰佰叁拾肆元伍角陆分."""
    cents = int(_checked(amount) * 100)
    yuan, rest = divmod(cents, 100)
    jiao, fen = divmod(rest, 10)
    if cents == 0:
        return "零元整"
    text = _integer_in_chinese(yuan) + "元" if yuan else ""
    if jiao == 0 and fen == 0:
        return text + "整"
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif yuan:
        text += "零"
    if fen:
        text += _DIGITS[fen] + "分"
    return text


def format_amount(amount: Decimal) -> str:
    """The amount in figures with two decimals and thousands separators, e.g. ``125,000.00``."""
    return f"{_checked(amount):,.2f}"
