"""What the handlers of one request tell each other, typed and on the request (request.context): floqast.api writes
the key and why it was refused, the rate limits their headers, and the request log reads them, none importing
another's blueprint."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from floqast.keys.lookup import CheckedKey


@dataclass(slots=True)
class ApiContext:
    """An API request's key, what its log line shows and why it was refused, and any request's rate-limit headers."""

    # The key the request is answered for.
    key: "CheckedKey | None" = None
    # A key of ours the request was refused with: the request log names its team and key.
    refused_key: "CheckedKey | None" = None
    # What the request log shows instead of the request's own uri and route's service (a download, its list's).
    logged_uri: str | None = None
    logged_service: str | None = None
    # Why the key was refused, as the request log keeps it (a floqast.usage.models.Refusal).
    refusal: str | None = None
    # The tightest rate limit's headers, for the response.
    rate_limit_headers: dict[str, str] | None = None
