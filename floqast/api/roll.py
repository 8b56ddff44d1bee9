"""POST /api/v1/me/roll: a key that may roll itself ("Scripts may roll this key") gets its replacement, once; a retry
with the same Idempotency-Key gets the same answer while the new key is kept (floqast/keys/self_roll.py)."""

from flask import request

from floqast.analytics.records import iso_utc
from floqast.api import bp
from floqast.extensions import db
from floqast.keys import actions
from floqast.keys.models import ApiKey
from floqast.web.json_errors import ApiError

IDEMPOTENCY_KEY = "Idempotency-Key"
IDEMPOTENCY_KEY_LENGTH = 255


def idempotency_key() -> str:
    """The request's Idempotency-Key, or a 400 saying what to send."""
    value = request.headers.get(IDEMPOTENCY_KEY, "").strip()
    if not value or len(value) > IDEMPOTENCY_KEY_LENGTH:
        raise ApiError(400, "Bad Request", f"Send an {IDEMPOTENCY_KEY} header of 1 to {IDEMPOTENCY_KEY_LENGTH} "
                       "characters, new for each roll (a UUID), and the same one again when retrying it.")
    return value


def conflict(detail: str) -> ApiError:
    return ApiError(409, "Conflict", detail)


@bp.post("/me/roll")
def roll_itself():
    """Replace the key making the request with a new key that keeps everything but its secret and expiry."""
    asked = idempotency_key()
    key = db.session.get(ApiKey, request.context.key.id)
    for _ in range(2):  # again once when a twin request committed the roll while this one was making its own
        try:
            replacement, plaintext = actions.roll_itself(key, asked)
            break
        except actions.CannotRoll:
            db.session.rollback()
        except actions.SelfRollNotAllowed as refused:
            db.session.commit()  # the erasing of kept keys
            raise ApiError(403, "Forbidden", str(refused)) from None
        except actions.RolledAlready as rolled:
            db.session.commit()
            raise conflict(str(rolled)) from None
        except (actions.PolicyRefused, actions.NameRefused) as refused:
            db.session.rollback()
            raise conflict(f"This API key cannot roll itself: {refused}") from None
    else:
        raise conflict("This API key was rolled or stopped working while it was rolling itself; ask again.")
    db.session.commit()
    return {"data": {
        "apiKey": plaintext,
        "apiKeyId": str(replacement.id),
        "expiresAt": iso_utc(replacement.expires_at),
        "previousKeyStopsAt": iso_utc(key.roll_ends_at),
    }}, 201
