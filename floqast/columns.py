"""What every model shares: the clock, aware UTC datetimes, StrEnums stored by value, text from outside clipped to
its column."""

from datetime import datetime, timezone

from sqlalchemy import Enum, String
from sqlalchemy.types import DateTime, TypeDecorator

# An IP address as a client's connection (or a trusted proxy's X-Forwarded-For) gives it: IPv6 at its longest.
IP_LENGTH = 45


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every database; SQLite keeps no zone, so it is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def str_enum(enum_class) -> Enum:
    """Store a StrEnum by its value in a plain string column, the same on every database."""
    return Enum(
        enum_class,
        native_enum=False,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def clip(text: str | None, length: int | None) -> str | None:
    """At most `length` characters (all of them for None), NUL shown as U+FFFD (PostgreSQL text cannot hold NUL)."""
    return None if text is None else text.replace("\x00", "\ufffd")[:length]


class OutsideText(TypeDecorator):
    """A column for text from outside: a header a client sent, a report's URL, an email typed at the login form,
    a mail server's answer. Every value written to it, by the ORM or by insert() and update(), is clip()ped to the
    column's length here, in one place, so that no write of outside text fails on PostgreSQL over a length that
    SQLite never checks. Without a length the text is kept whole (only NUL is replaced)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return clip(value, self.impl.length)
