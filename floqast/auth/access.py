"""When the signed-in user last typed their password (at login, or again at Confirm access), and the check of it
typed again: wrong passwords count toward the failed-login limits, and both outcomes are audited."""

from dataclasses import dataclass

from flask import current_app, session

from floqast import columns
from floqast.accounts.models import User
from floqast.audit import events
from floqast.ratelimit.limits import count_login_failure, login_allowed

# The session's record of the last password typed, in epoch seconds of the app's clock.
ACCESS_CONFIRMED_AT = "_access_confirmed_at"
TOO_MANY_TRIES = "Too many wrong passwords. Wait a minute, then try again."
WRONG_PASSWORD = "Incorrect password."


@dataclass(frozen=True)
class AccessRefused:
    """Why a password typed again was not taken, and the HTTP status that says so."""

    message: str
    status: int


def mark_access_confirmed() -> None:
    """The user typed their password just now."""
    session[ACCESS_CONFIRMED_AT] = columns.utcnow().timestamp()


def access_confirmed_recently() -> bool:
    """Whether the user typed their password within the last CONFIRM_ACCESS_SECONDS."""
    confirmed_at = session.get(ACCESS_CONFIRMED_AT)
    if not isinstance(confirmed_at, int | float):
        return False
    return columns.utcnow().timestamp() - confirmed_at < current_app.config["CONFIRM_ACCESS_SECONDS"]


def confirm_access(user: User, password: str, asked_for: str) -> AccessRefused | None:
    """Check `user`'s password typed again before `asked_for`: None when right (access confirmed from now on), else
    why not. Audited either way; the caller commits."""
    if not login_allowed(user.email):
        return AccessRefused(TOO_MANY_TRIES, 429)
    if not user.check_password(password):
        count_login_failure(user.email)
        events.record_access_check(user, confirmed=False, detail=f"Asked before: {asked_for}.")
        return AccessRefused(WRONG_PASSWORD, 422)
    events.record_access_check(user, confirmed=True, detail=f"Asked before: {asked_for}.")
    mark_access_confirmed()
    return None
