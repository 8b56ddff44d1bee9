"""GitHub's secret scanning partner program: its public keys, kept in a JSON file, and the check of the ECDSA
signature GitHub puts on each report. No routes here (floqast/api/leaks.py), no database.

The file has the shape of GitHub's /meta/public_keys/secret_scanning answer:
{"public_keys": [{"key_identifier": "...", "key": "-----BEGIN PUBLIC KEY-----...", "is_current": true}]}.
"""

import base64
import json
import os
import tempfile
import urllib.request
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from flask import current_app

KEYS_FILE_NAME = "github-secret-scanning-keys.json"
DOWNLOAD_TIMEOUT_SECONDS = 30


class PublicKeysError(ValueError):
    """A public keys document that holds no usable key."""


def keys_file() -> Path:
    """Where the running app reads GitHub's public keys: GITHUB_SECRET_SCANNING_KEYS, else the instance folder."""
    configured = current_app.config.get("GITHUB_SECRET_SCANNING_KEYS")
    return Path(configured) if configured else Path(current_app.instance_path) / KEYS_FILE_NAME


def parse_public_keys(document: bytes) -> dict[str, ec.EllipticCurvePublicKey]:
    """The P-256 keys of a public keys document by identifier; PublicKeysError when it holds none."""
    try:
        entries = json.loads(document)["public_keys"]
        keys = {}
        for entry in entries:
            key = load_pem_public_key(entry["key"].encode())
            if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
                keys[str(entry["key_identifier"])] = key
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise PublicKeysError(f"not a public keys document: {error}") from None
    if not keys:
        raise PublicKeysError("the document holds no ECDSA P-256 public key")
    return keys


@lru_cache(maxsize=4)
def _read(path: Path, modified_ns: int, size: int) -> dict[str, ec.EllipticCurvePublicKey]:
    # Keyed on the file's modification time and size: a download replaces it and the next report reads it.
    return parse_public_keys(path.read_bytes())


def public_keys() -> dict[str, ec.EllipticCurvePublicKey]:
    """GitHub's keys from the keys file; none (every report refused, and the cause logged) when it is missing or
    unreadable."""
    path = keys_file()
    try:
        stat = path.stat()
        return _read(path, stat.st_mtime_ns, stat.st_size)
    except (OSError, PublicKeysError) as error:
        current_app.logger.error("GitHub secret scanning public keys unusable at %s: %s", path, error)
        return {}


def signed_by_github(body: bytes, key_identifier: str, signature: str) -> bool:
    """Whether `signature` (base64 DER, ECDSA P-256 SHA-256) is over the raw `body` by GitHub's key
    `key_identifier`."""
    key = public_keys().get(key_identifier)
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def download_public_keys(url: str, path: Path) -> int:
    """Fetch GitHub's public keys from `url` and replace the file at `path` with them, whole or not at all;
    the number of usable keys. PublicKeysError (or an OSError) leaves the file as it was."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "floqast-open-api"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
        document = response.read()
    count = len(parse_public_keys(document))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(document)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return count
