"""Keys reported as leaked, by anyone or by GitHub's secret scanning: each key of ours reported that still works is
revoked at once, found by the one verifier as a pull's key is."""

from floqast.extensions import db
from floqast.keys.actions import revoke_leaked
from floqast.keys.authenticate import authenticate
from floqast.keys.models import ApiKey
from floqast.keys.state import KeyStatus


def revoke_reported(reports: list[tuple[str, str]], ip: str | None) -> list[bool]:
    """Whether each reported text (with the reason it was reported for) is a key of ours, each that still worked
    revoked for its reason, reported from `ip`, for the caller to commit; no lookup for text that fails our checksum.

    Every text is checked before any key is revoked: a key check reads on a pooled connection of its own, which on
    an in-memory SQLite database is the session's, and would roll back the revocations before it.
    """
    keys = [authenticate(text.strip(), ip, None, fresh=True).key for text, _ in reports]
    for key, (_, reason) in zip(keys, reports, strict=True):
        if key is not None and key.status(key.team.today()) is KeyStatus.ACTIVE:
            revoke_leaked(db.session.get(ApiKey, key.id), reason, ip)
    return [key is not None for key in keys]
