"""Ids in URLs and query arguments: only a number that can be a row's id reaches the database."""

from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

# Ids are INTEGER columns: PostgreSQL answers a larger number with an error (and SQLite one past 2**63),
# which would be a 500 for what is simply no such row.
MAX_ID = 2**31 - 1


def database_id(text: str) -> int:
    """The id a string names, from 1 to MAX_ID; ValueError when it cannot be one (so that
    `request.args.get(name, type=database_id)` reads such an argument as missing)."""
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and 1 <= int(text) <= MAX_ID):
        raise ValueError(f"{text!r} is not an id")
    return int(text)


class IdConverter(IntegerConverter):
    """`<id:name>`: a whole number from 1 to MAX_ID; anything else is a 404 before the view runs."""

    def to_python(self, value: str) -> int:
        try:
            return database_id(value)
        except ValueError:
            # Not werkzeug's ValidationError: the matcher would then answer 405 to a POST on a path whose
            # GET rule it had already seen, rather than 404.
            raise NotFound() from None
