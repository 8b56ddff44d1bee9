"""Standard Webhooks signing secrets: made, kept encrypted under the app's SECRET_KEY, and the three headers that
sign a message with them (https://www.standardwebhooks.com, "Signature scheme").

The HMAC is written here rather than taken from the `standardwebhooks` package: the scheme is one line, and the
package brings an HTTP client and its dependencies into the app for it (the tests verify with the package)."""

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A new signing secret, as receivers paste it into their verifier: whsec_ and base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _fernet() -> Fernet:
    """The cipher of stored secrets, its key derived from SECRET_KEY (a new SECRET_KEY means rolling each secret)."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"floqast webhook signing secrets").derive(
        current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str) -> str:
    """The secret as stored."""
    return _fernet().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str:
    """The secret a stored value holds."""
    return _fernet().decrypt(sealed.encode()).decode()


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """`v1,` and base64 of HMAC-SHA256 over "id.timestamp.body" under the secret's bytes."""
    digest = hmac.new(base64.b64decode(secret.removeprefix(PREFIX)), f"{message_id}.{timestamp}.{body}".encode(),
                      hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_in_use: list[str], message_id: str, sent_at: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt: a signature for each secret in use, space-separated."""
    timestamp = int(sent_at.timestamp())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(secret, message_id, timestamp, body) for secret in secrets_in_use),
    }
