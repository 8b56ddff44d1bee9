"""What a list endpoint's answer is built from, whether it is asked for directly or through a download link."""

from dataclasses import dataclass
from functools import cached_property
from urllib.parse import parse_qsl, unquote_plus

from werkzeug.datastructures import ImmutableMultiDict

from floqast.api.params import ALLOW_REDIRECT
from floqast.keys.lookup import CheckedKey

JSON = "application/json"
CSV = "text/csv"


def without_allow_redirect(query: str) -> str:
    """A raw query string without its allowRedirect parameter, the others left exactly as they were sent."""
    return "&".join(part for part in query.split("&") if unquote_plus(part.partition("=")[0]) != ALLOW_REDIRECT)


@dataclass(frozen=True)
class Pull:
    """A list answer's inputs: the key (its team's records), the list's path, its raw query string without
    allowRedirect, and the format (JSON or CSV)."""

    key: CheckedKey
    path: str
    query: str
    format: str

    @cached_property
    def args(self) -> ImmutableMultiDict:
        """The query's parameters, read as werkzeug reads a request's (invalid bytes stay percent-encoded)."""
        return ImmutableMultiDict(parse_qsl(self.query, keep_blank_values=True, errors="werkzeug.url_quote"))

    @property
    def url(self) -> str:
        """This answer's own path and query (links.self): a path of this site, never built from a Host header."""
        return f"{self.path}?{self.query}" if self.query else self.path
