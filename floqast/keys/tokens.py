"""API key format, checksum and digest: pure functions, no Flask, no HTTP, no database."""

import hashlib
import hmac
import re
import secrets
import string
import zlib

PREFIX = "fq_"
ALPHABET = string.digits + string.ascii_letters
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
HINT_LENGTH = 4
KEY_LENGTH = len(PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
_ALPHABET_SET = frozenset(ALPHABET)
_KEY_SHAPED = re.compile(f"(?=({PREFIX}[0-9A-Za-z]{{{KEY_LENGTH - len(PREFIX)}}}))")
# Query parameters in which clients put keys (never read from there: refused, and never logged).
QUERY_KEY_PARAMETERS = {"api_key", "apikey", "api-key", "x-api-key", "key", "token", "access_token",
                        "authorization"}


def _base62(number: int, width: int) -> str:
    """Encode a non-negative integer in base62, left-padded with zeros to `width`."""
    digits = []
    while number:
        number, remainder = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits)).rjust(width, ALPHABET[0])


def checksum(random_part: str) -> str:
    """The six base62 characters of CRC32 over the random part."""
    return _base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_LENGTH)


def generate() -> str:
    """A new key: prefix, 32 random base62 characters (about 190 bits), checksum."""
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return PREFIX + random_part + checksum(random_part)


def is_well_formed(key: str) -> bool:
    """Whether `key` has our prefix, length, alphabet and a matching checksum."""
    if len(key) != KEY_LENGTH or not key.startswith(PREFIX):
        return False
    body = key[len(PREFIX):]
    if not _ALPHABET_SET.issuperset(body):
        return False
    random_part, given = body[:RANDOM_LENGTH], body[RANDOM_LENGTH:]
    return hmac.compare_digest(checksum(random_part), given)


def keys_in(text: str) -> list[str]:
    """The well-formed keys anywhere in `text` (say, pasted into a description or a URL's `?q="Bearer fq_..."`),
    each once, in order."""
    return list(dict.fromkeys(match for match in _KEY_SHAPED.findall(text) if is_well_formed(match)))


def contains_key(text: str) -> bool:
    """Whether a well-formed key appears anywhere in `text`."""
    return bool(keys_in(text))


def looks_like_key(text: str) -> bool:
    """Whether `text` holds a key anywhere, or starts like one, mistyped or not: a URL part to refuse and to keep
    out of logs."""
    text = text.strip()
    return text.startswith(PREFIX) or contains_key(text)


def digest(key: str, pepper: bytes) -> str:
    """HMAC-SHA256 of the key under the server's pepper, as 64 hex characters."""
    return hmac.new(pepper, key.encode("ascii"), hashlib.sha256).hexdigest()


def hint(key: str) -> str:
    """The part of a key that may be shown again: prefix and the first four random characters."""
    return key[: len(PREFIX) + HINT_LENGTH]
