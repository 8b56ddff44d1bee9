"""Every table's model in one import, for Alembic and migrations/env.py; the code imports each from its domain."""

from floqast.accounts.models import Role, Team, User
from floqast.columns import UTCDateTime, utcnow
from floqast.keys.models import ApiKey, KeyStatus, Service
from floqast.keys.self_roll import SelfRoll

__all__ = ["ApiKey", "KeyStatus", "Role", "SelfRoll", "Service", "Team", "UTCDateTime", "User", "utcnow"]
