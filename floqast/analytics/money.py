"""Exact money: a column type that keeps cents exact on every database."""

from decimal import Decimal, InvalidOperation

from sqlalchemy import BigInteger, Numeric
from sqlalchemy.types import TypeDecorator

CENT = Decimal("0.01")


def to_money(value) -> Decimal:
    """A Decimal with exactly two places; ValueError when `value` is not a whole number of cents."""
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not amount.is_finite() or amount != amount.quantize(CENT):
        raise ValueError(f"{value!r} is not an amount with at most two decimals")
    if abs(amount) >= Decimal("1e16"):
        raise ValueError(f"{value!r} is too large (at most 16 digits before the point)")
    return amount.quantize(CENT)


def money_text(amount: Decimal | None) -> str | None:
    """The amount as the API writes it: a string with two decimals, such as "-1234.50"."""
    return None if amount is None else f"{amount:.2f}"


class Money(TypeDecorator):
    """NUMERIC(18, 2) on PostgreSQL; integer cents on SQLite, whose NUMERIC is a float."""

    impl = Numeric(18, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, 2, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        amount = to_money(value)
        return int(amount.scaleb(2)) if dialect.name == "sqlite" else amount

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-2).quantize(CENT)
        return Decimal(value).quantize(CENT)
