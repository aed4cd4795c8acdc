"""Underwriting: premium arithmetic in Decimal, limits, blocked suppliers, manual review."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.domain.underwriting import Facts, Outcome, Product, Rules, premium, underwrite

PRODUCT = Product(
    "PERF",
    "履约保函",
    rate=Decimal("0.005"),
    minimum_premium=Decimal("200.00"),
    max_amount=Decimal("10000000.00"),
    max_term_months=36,
    auto_approve_up_to=Decimal("1000000.00"),
)
RULES = Rules({"PERF": PRODUCT}, "PERF", frozenset({"91110000BLOCKED001"}))


def facts(amount: str = "125000.00", term: int = 24, supplier: str = "91110000MA01ABCD1X") -> Facts:
    return Facts(supplier_code=supplier, amount=Decimal(amount), term_months=term)


def test_premium_is_rate_times_amount_rounded_half_up() -> None:
    assert premium(PRODUCT, Decimal("125000.00")) == Decimal("625.00")
    assert premium(PRODUCT, Decimal("100001.00")) == Decimal("500.01")  # 500.005 rounds up
    assert premium(PRODUCT, Decimal("1000.00")) == Decimal("200.00")  # the minimum premium


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000000"), places=2))
def test_premium_is_never_below_minimum_and_always_cents(amount: Decimal) -> None:
    value = premium(PRODUCT, amount)
    assert value >= PRODUCT.minimum_premium
    assert value == value.quantize(Decimal("0.01"))
    assert abs(value - max(PRODUCT.minimum_premium, amount * PRODUCT.rate)) <= Decimal("0.005")


def test_within_the_rules_is_approved() -> None:
    decision = underwrite(RULES, facts())
    assert decision.outcome is Outcome.APPROVE and decision.premium == Decimal("625.00")


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"supplier": "91110000BLOCKED001"}, "blocked list"),
        ({"amount": "20000000.00"}, "exceeds the product limit"),
        ({"term": 48}, "outside 1–36"),
        ({"term": 0}, "outside 1–36"),
    ],
)
def test_refusals_say_why(kwargs: dict[str, object], reason: str) -> None:
    decision = underwrite(RULES, facts(**kwargs))  # type: ignore[arg-type]
    assert decision.outcome is Outcome.REFUSE and any(reason in r for r in decision.reasons)


def test_large_amounts_go_to_manual_review() -> None:
    decision = underwrite(RULES, facts(amount="2000000.00"))
    assert decision.outcome is Outcome.REVIEW and "automatic approval limit" in decision.reasons[0]


def test_refusal_wins_over_review() -> None:
    decision = underwrite(RULES, facts(amount="2000000.00", supplier="91110000BLOCKED001"))
    assert decision.outcome is Outcome.REFUSE


def test_bad_products_are_refused() -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        Product("X", "x", rate=Decimal(0), minimum_premium=Decimal(0))


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"rate": Decimal("0.0055555")}, "at most six decimals"),
        ({"rate": Decimal("10000")}, "rate must be below 10000"),
        ({"rate": Decimal("1e30")}, "rate must be below 10000"),
        ({"minimum_premium": Decimal("200.005")}, "minimum_premium must be whole cents"),
        ({"auto_approve_up_to": Decimal("1e30")}, "auto_approve_up_to must be whole cents below"),
        ({"max_amount": Decimal("1e8") + Decimal("0.001")}, "max_amount must be whole cents"),
    ],
)
def test_products_hold_only_what_storage_holds_exactly(kwargs: dict[str, Decimal], why: str) -> None:
    # Refused when the rules load, not rounded (or failing) when an application is stored.
    base = {"rate": Decimal("0.005"), "minimum_premium": Decimal("200.00")}
    with pytest.raises(ValueError, match=why):
        Product("X", "x", **(base | kwargs))  # type: ignore[arg-type]
    assert Product("X", "x", rate=Decimal("0.005000"), minimum_premium=Decimal("200")).rate == Decimal(
        "0.005"
    )


def test_rules_load_from_json() -> None:
    import json

    from baohan.domain.underwriting import rules_from_dict

    rules = rules_from_dict(
        json.loads("""{"default_product": "P", "blocked_suppliers": ["91X"],
        "products": [{"code": "P", "name": "履约", "rate": "0.004", "minimum_premium": "100.00",
                      "max_term_months": 24}]}""")
    )
    assert rules.product().rate == Decimal("0.004") and rules.product().max_term_months == 24
    assert rules.refunds_by_operator is False  # by default the lifecycle alone decides ELY109
    assert underwrite(rules, Facts("91X", Decimal("1000.00"), 12)).outcome is Outcome.REFUSE


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ([], "rules: must be a JSON object"),
        ({"products": []}, "rules.products"),
        (
            {"products": [{"code": "P", "name": "n", "rate": 0.005, "minimum_premium": "1"}]},
            "rules.products[0].rate",
        ),
        ({"products": [{"code": "P", "name": "n", "rate": "x", "minimum_premium": "1"}]}, "not a number"),
        (
            {
                "products": [
                    {"code": "P", "name": "n", "rate": "0.1", "minimum_premium": "1", "colour": "red"}
                ]
            },
            "colour",
        ),
        ({"products": [{"code": "P", "name": "n", "rate": "0.1"}]}, "minimum_premium"),
        (
            {
                "products": [
                    {"code": "P", "name": "n", "rate": "0.1", "minimum_premium": "1", "max_term_months": 0}
                ]
            },
            "max_term_months",
        ),
        (
            {
                "default_product": "Q",
                "products": [{"code": "P", "name": "n", "rate": "0.1", "minimum_premium": "1"}],
            },
            "default_product",
        ),
        (
            {
                "refunds_by_operator": "yes",
                "products": [{"code": "P", "name": "n", "rate": "0.1", "minimum_premium": "1"}],
            },
            "refunds_by_operator",
        ),
        (
            {
                "blocked_suppliers": "91X",
                "products": [{"code": "P", "name": "n", "rate": "0.1", "minimum_premium": "1"}],
            },
            "blocked_suppliers",
        ),
    ],
)
def test_bad_rules_name_the_setting(data: object, where: str) -> None:
    from baohan.domain.underwriting import rules_from_dict

    with pytest.raises(ValueError, match=where.replace("[", r"\[").replace("]", r"\]")):
        rules_from_dict(data)


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("blocked_supplier", "did you mean 'blocked_suppliers'"),
        ("refund_by_operator", "did you mean 'refunds_by_operator'"),
        ("colour", "known: products"),
    ],
)
def test_an_unknown_top_level_key_is_refused_by_name(key: str, hint: str) -> None:
    from baohan.domain.underwriting import rules_from_dict

    data = {key: True, "products": [{"code": "P", "name": "n", "rate": "0.1", "minimum_premium": "1"}]}
    with pytest.raises(ValueError, match=f"rules: unknown setting '{key}'") as caught:
        rules_from_dict(data)
    assert hint in str(caught.value)


def test_a_misspelt_product_key_gets_a_suggestion() -> None:
    from baohan.domain.underwriting import rules_from_dict

    data = {"products": [{"code": "P", "name": "n", "rate": "0.1", "minimum_premium": "1", "max_amout": "9"}]}
    with pytest.raises(ValueError, match=r"rules.products\[0\]: unknown setting 'max_amout' \(did you mean"):
        rules_from_dict(data)


def test_the_shipped_example_loads_and_every_setting_is_documented() -> None:
    import json
    from pathlib import Path

    from baohan.domain.underwriting import PRODUCT_KEYS, RULES_KEYS, rules_from_dict

    docs = Path(__file__).resolve().parents[2] / "docs"
    example = json.loads((docs / "rules.example.json").read_text(encoding="utf-8"))
    rules = rules_from_dict(example)
    assert rules.default_product == "PERF" and rules.blocked_suppliers
    assert set(example) == set(RULES_KEYS) and set(example["products"][0]) == set(PRODUCT_KEYS)
    page = (docs / "rules.md").read_text(encoding="utf-8")
    assert all(f"| `{key}` |" in page for key in (*RULES_KEYS, *PRODUCT_KEYS))
