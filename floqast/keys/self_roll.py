"""A key that rolls itself (POST /api/v1/me/roll): the record of its roll, and the new key kept encrypted for a few
minutes so that a script whose answer was lost on the network gets the same key again by sending the same
Idempotency-Key. The plaintext is kept only as a Fernet token under a key derived from SECRET_KEY, and erased
(SEALED_MINUTES after the roll) by the next self-roll of any key and by every `keys notify` run; a token read later
than that is refused by Fernet's own time check, erased or not."""

import base64
import hashlib
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import ForeignKey, String, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from floqast import columns
from floqast.columns import UTCDateTime, utcnow
from floqast.extensions import db
from floqast.keys.models import ApiKey

SEALED_MINUTES = 10
# What the key sealing a new key is derived for: another use of SECRET_KEY never shares it.
SEALING_INFO = b"floqast.keys.self_roll"


class SelfRoll(db.Model):
    """A key's roll by itself: the replacement, the digest of the request's Idempotency-Key, and until `sealed_until`
    the replacement's plaintext sealed (None once erased)."""

    __tablename__ = "key_self_rolls"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique: a key is rolled once, so a second roll of it finds this row.
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), unique=True)
    replacement_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    idempotency_digest: Mapped[str] = mapped_column(String(64))
    sealed_key: Mapped[str | None] = mapped_column(String(255))
    sealed_until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    replacement: Mapped[ApiKey] = relationship(foreign_keys=[replacement_id])

    def same_request(self, idempotency_key: str) -> bool:
        """Whether `idempotency_key` is the one the roll was asked with."""
        return self.idempotency_digest == idempotency_digest(idempotency_key)

    def unsealed(self) -> str | None:
        """The replacement's plaintext while it is kept (SEALED_MINUTES after the roll); None after."""
        if self.sealed_key is None or self.sealed_until <= columns.utcnow():
            return None
        try:
            return sealer().decrypt(self.sealed_key.encode(), ttl=SEALED_MINUTES * 60).decode()
        except InvalidToken:  # older than its minutes, or sealed under another SECRET_KEY
            return None


def idempotency_digest(idempotency_key: str) -> str:
    """What is kept of an Idempotency-Key: its SHA-256, whatever its length."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


def sealer() -> Fernet:
    """Fernet (AES-128-CBC with HMAC-SHA256) under a key derived from SECRET_KEY by HKDF."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEALING_INFO).derive(
        current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def record(key: ApiKey, replacement: ApiKey, plaintext: str, idempotency_key: str) -> SelfRoll:
    """Note the key's roll by itself with its replacement's plaintext sealed, for the caller to commit."""
    now = columns.utcnow()
    rolled = SelfRoll(api_key_id=key.id, replacement=replacement,
                      idempotency_digest=idempotency_digest(idempotency_key),
                      sealed_key=sealer().encrypt(plaintext.encode()).decode(),
                      sealed_until=now + timedelta(minutes=SEALED_MINUTES), created_at=now)
    db.session.add(rolled)
    return rolled


def erase_sealed() -> int:
    """Erase every sealed plaintext past its minutes, for the caller to commit; how many."""
    return db.session.execute(
        update(SelfRoll).where(SelfRoll.sealed_key.is_not(None), SelfRoll.sealed_until <= columns.utcnow())
        .values(sealed_key=None)
    ).rowcount
