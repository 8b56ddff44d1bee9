"""A team's API key policy: whether keys must expire and how long they may live, the one rule that the create
dialog, the server's checks and the Exceeds policy badge all ask.

A key's lifetime runs from the day it is issued (today, for a new key; the day it was created, in the team's
time zone, for a key in the list) to its expiration date, as GitHub and GitLab count it. No Flask, no database.
"""

from dataclasses import dataclass
from datetime import date, timedelta

# The Longest allowed lifetime choices, in days; None is No limit.
LIFETIMES = (365, 90, 60, 30)
# The lifetime a key gets when the policy requires an expiration that nothing else sets (the create dialog's default).
DEFAULT_LIFETIME_DAYS = 90
EXPIRATION_REQUIRED = "Your team's API key policy requires an expiration date."


@dataclass(frozen=True)
class KeyPolicy:
    require_expiration: bool = False
    max_lifetime_days: int | None = None

    def latest_expiry(self, issued_on: date) -> date | None:
        """The last expiration date a key issued on `issued_on` may have; None without a limit."""
        return None if self.max_lifetime_days is None else issued_on + timedelta(days=self.max_lifetime_days)

    def refusal(self, expires_on: date | None, issued_on: date) -> str | None:
        """Why a key issued on `issued_on` that expires on `expires_on` (None: never) breaks the policy, as a
        message for the person choosing; None when it keeps it. A limit rules out No expiration too."""
        latest = self.latest_expiry(issued_on)
        if expires_on is None and self.require_expiration:
            return EXPIRATION_REQUIRED
        if latest is not None and (expires_on is None or expires_on > latest):
            return (f"Your team's API key policy allows keys of at most {self.max_lifetime_days} days: "
                    f"choose a date no later than {latest:%B %-d, %Y}.")
        return None

    def nearest_allowed(self, expires_on: date | None, issued_on: date) -> date | None:
        """`expires_on` if the policy allows it for a key issued on `issued_on`, else the latest date it allows (a
        rolled key's replacement keeps its lifetime only as far as the policy of now lets it)."""
        if self.refusal(expires_on, issued_on) is None:
            return expires_on
        return self.latest_expiry(issued_on) or issued_on + timedelta(days=DEFAULT_LIFETIME_DAYS)

    def describe(self) -> str:
        """The policy in a few words, for the audit trail."""
        expiration = "expiration required" if self.require_expiration else "expiration not required"
        lifetime = "no limit" if self.max_lifetime_days is None else f"at most {self.max_lifetime_days} days"
        return f"{expiration}, {lifetime}"
