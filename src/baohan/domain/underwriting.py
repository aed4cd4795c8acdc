"""Underwriting (核保): premium, limits and the decision to approve, refuse or send to manual review."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

CENT = Decimal("0.01")
# The rules file's schema: every key it may hold (docs/rules.md); any other key is refused by name, so a
# misspelt risk control (``blocked_supplier``) is an error rather than a control silently off.
RULES_KEYS = ("products", "default_product", "blocked_suppliers", "refunds_by_operator")
PRODUCT_KEYS = (
    "code",
    "name",
    "rate",
    "minimum_premium",
    "min_amount",
    "max_amount",
    "max_term_months",
    "auto_approve_up_to",
)
RATE_UNIT = Decimal("0.000001")
MONEY_BOUND = Decimal(10) ** 16  # NUMERIC(18,2)


class Outcome(StrEnum):
    """What the rules decide."""

    APPROVE = "approve"
    REFUSE = "refuse"
    REVIEW = "review"  # the rules cannot decide; an operator must


@dataclass(frozen=True, slots=True)
class Product:
    """A guarantee product's pricing and limits (per institution, per counterparty if needed)."""

    code: str
    name: str
    rate: Decimal  # premium per unit of guaranteed amount, e.g. 0.005 for 千分之五
    minimum_premium: Decimal
    min_amount: Decimal = Decimal("0.01")
    max_amount: Decimal = Decimal("100000000.00")
    max_term_months: int = 60
    auto_approve_up_to: Decimal = Decimal("5000000.00")

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.minimum_premium < 0 or self.min_amount > self.max_amount:
            raise ValueError(f"product {self.code}: rate must be positive and the amount limits ordered")
        # What is stored must fit its column exactly (NUMERIC(10,6) and (18,2)): refused here, not rounded.
        if self.rate >= 10_000 or self.rate != self.rate.quantize(RATE_UNIT):
            raise ValueError(f"product {self.code}: rate must be below 10000 with at most six decimals")
        for name in ("minimum_premium", "min_amount", "max_amount", "auto_approve_up_to"):
            value = getattr(self, name)
            if value >= MONEY_BOUND or value != value.quantize(CENT):
                raise ValueError(f"product {self.code}: {name} must be whole cents below 10^16, e.g. 200.00")


@dataclass(frozen=True, slots=True)
class Rules:
    """The institution's underwriting rules."""

    products: Mapping[str, Product]
    default_product: str
    blocked_suppliers: frozenset[str] = field(default_factory=frozenset)
    # ELY109 (退保/撤单): False decides by the lifecycle alone; True sends each request the lifecycle
    # allows to an operator, who accepts or refuses it (what the lifecycle forbids is refused at once).
    refunds_by_operator: bool = False

    def product(self, code: str | None = None) -> Product:
        """The named product, or the default one."""
        return self.products[code or self.default_product]


@dataclass(frozen=True, slots=True)
class Facts:
    """What an application tells the underwriter."""

    supplier_code: str
    amount: Decimal  # the guaranteed amount: the performance bond (履约保证金)
    term_months: int
    contract_amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome, the premium it would cost, and the reasons (each a sentence)."""

    outcome: Outcome
    premium: Decimal
    rate: Decimal
    reasons: tuple[str, ...]


def premium(product: Product, amount: Decimal) -> Decimal:
    """``amount × rate`` rounded half-up to the cent, never below the product's minimum premium."""
    return max(product.minimum_premium, (amount * product.rate).quantize(CENT, rounding=ROUND_HALF_UP))


def underwrite(rules: Rules, facts: Facts, product_code: str | None = None) -> Decision:
    """Apply the rules: any refusal reason refuses; otherwise any review reason reviews; else approve."""
    product = rules.product(product_code)
    refuse: list[str] = []
    review: list[str] = []
    if facts.supplier_code in rules.blocked_suppliers:
        refuse.append(f"supplier {facts.supplier_code} is on the blocked list")
    if facts.amount < product.min_amount:
        refuse.append(f"amount {facts.amount} is below the product minimum {product.min_amount}")
    if facts.amount > product.max_amount:
        refuse.append(f"amount {facts.amount} exceeds the product limit {product.max_amount}")
    if facts.term_months < 1 or facts.term_months > product.max_term_months:
        refuse.append(f"term of {facts.term_months} months is outside 1–{product.max_term_months}")
    if facts.amount > product.auto_approve_up_to:
        review.append(
            f"amount {facts.amount} is above the automatic approval limit {product.auto_approve_up_to}"
        )
    if facts.contract_amount is not None and facts.amount > facts.contract_amount:
        review.append(f"performance bond {facts.amount} exceeds the contract amount {facts.contract_amount}")
    if refuse:
        outcome, reasons = Outcome.REFUSE, refuse
    elif review:
        outcome, reasons = Outcome.REVIEW, review
    else:
        outcome, reasons = Outcome.APPROVE, ["within the automatic approval rules"]
    return Decision(outcome, premium(product, facts.amount), product.rate, tuple(reasons))


def rules_from_dict(data: object) -> Rules:
    """Rules from a JSON object; ValueError naming the offending setting.

    ``{"default_product": "PERF", "blocked_suppliers": ["9111…"], "products": [{"code": "PERF",
    "name": "履约保函", "rate": "0.005", "minimum_premium": "200.00", "max_amount": "50000000.00",
    "max_term_months": 60, "auto_approve_up_to": "5000000.00"}], "refunds_by_operator": false}``; amounts
    are strings, never floats.
    """
    from decimal import InvalidOperation

    if not isinstance(data, dict):
        raise ValueError("rules: must be a JSON object")
    _refuse_unknown("rules", data, RULES_KEYS)

    def money(where: str, value: object) -> Decimal:
        if not isinstance(value, str):
            raise ValueError(f'{where}: must be a string like "200.00" (money is never a float)')
        try:
            parsed = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{where}: {value!r} is not a number") from None
        if not parsed.is_finite() or parsed < 0:
            raise ValueError(f"{where}: must be a non-negative number")
        return parsed

    products: dict[str, Product] = {}
    raw_products = data.get("products")
    if not isinstance(raw_products, list) or not raw_products:
        raise ValueError("rules.products: must be a non-empty list")
    for i, raw in enumerate(raw_products):
        where = f"rules.products[{i}]"
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: must be an object")
        _refuse_unknown(where, raw, PRODUCT_KEYS)
        code, name = raw.get("code"), raw.get("name")
        if not isinstance(code, str) or not code or not isinstance(name, str) or not name:
            raise ValueError(f"{where}: needs a code and a name")
        kwargs: dict[str, object] = {
            key: money(f"{where}.{key}", raw[key])
            for key in ("rate", "minimum_premium", "min_amount", "max_amount", "auto_approve_up_to")
            if key in raw
        }
        if "rate" not in kwargs or "minimum_premium" not in kwargs:
            raise ValueError(f"{where}: needs rate and minimum_premium")
        if "max_term_months" in raw:
            term = raw["max_term_months"]
            if not isinstance(term, int) or isinstance(term, bool) or term < 1:
                raise ValueError(f"{where}.max_term_months: must be a whole number of months ≥ 1")
            kwargs["max_term_months"] = term
        products[code] = Product(code=code, name=name, **kwargs)  # type: ignore[arg-type]
    default = data.get("default_product", next(iter(products)))
    if not isinstance(default, str) or default not in products:
        raise ValueError(f"rules.default_product: {default!r} is not one of the products")
    blocked = data.get("blocked_suppliers", [])
    if not isinstance(blocked, list) or not all(isinstance(b, str) for b in blocked):
        raise ValueError("rules.blocked_suppliers: must be a list of social credit codes")
    by_operator = data.get("refunds_by_operator", False)
    if not isinstance(by_operator, bool):
        raise ValueError("rules.refunds_by_operator: must be true or false")
    return Rules(products, default, frozenset(blocked), refunds_by_operator=by_operator)


def _refuse_unknown(where: str, data: Mapping[str, object], known: Iterable[str]) -> None:
    """ValueError naming the first key of ``data`` not in ``known``, with the closest known one if any."""
    import difflib

    known = tuple(known)
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
            raise ValueError(f"{where}: unknown setting {key!r}{hint}")
