"""api_requests: redact keys logged inside a parameter's name or value (`?filter[entityIds]=1,fq_...`)

The log used to redact only a name or value that started with the key prefix; a key further in was stored
whole and served by the audit trail. This rewrites the rows that hold one as the log now writes them.

Revision ID: fb9987f3bcb6
Revises: a6d4c2e8f1b7
Create Date: 2026-12-04 10:00:00.000000

"""
import re
import string
import zlib
from urllib.parse import unquote, unquote_plus

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'fb9987f3bcb6'
down_revision = 'a6d4c2e8f1b7'
branch_labels = None
depends_on = None

# floqast.keys.tokens and floqast.usage.request_log as of this revision (a migration never imports live code).
PREFIX = 'fq_'
ALPHABET = string.digits + string.ascii_letters
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
KEY_SHAPED = re.compile(f'(?=({PREFIX}[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}))')
QUERY_KEY_PARAMETERS = {'api_key', 'apikey', 'api-key', 'x-api-key', 'key', 'token', 'access_token',
                        'authorization'}
REDACTED = 'REDACTED'
BATCH_ROWS = 1000
# Rows that may hold a key: `fq` once percent-decoded ('f' is %66, 'q' is %71).
MAY_HOLD_A_KEY = sa.text(
    "SELECT id, uri FROM api_requests WHERE id > :after "
    "AND (uri LIKE '%fq%' OR uri LIKE '%!%66%' ESCAPE '!' OR uri LIKE '%!%71%' ESCAPE '!') "
    "ORDER BY id LIMIT :limit"
)


def checksum(random_part):
    number, digits = zlib.crc32(random_part.encode('ascii')), []
    while number:
        number, remainder = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[remainder])
    return ''.join(reversed(digits)).rjust(CHECKSUM_LENGTH, ALPHABET[0])


def is_key(text):
    body = text[len(PREFIX):]
    return checksum(body[:RANDOM_LENGTH]) == body[RANDOM_LENGTH:]


def looks_like_key(text):
    text = text.strip()
    return text.startswith(PREFIX) or any(is_key(match) for match in KEY_SHAPED.findall(text))


def redacted_uri(uri):
    path, question, query = uri.partition('?')
    path = '/'.join(REDACTED if looks_like_key(unquote(part)) else part for part in path.split('/'))
    parts = []
    for part in query.split('&') if question else ():
        name, equals, value = part.partition('=')
        if looks_like_key(unquote_plus(name)):
            name = REDACTED
        if value and (unquote_plus(name).strip().lower() in QUERY_KEY_PARAMETERS
                      or looks_like_key(unquote_plus(value))):
            value = REDACTED
        parts.append(name + equals + value)
    return path + question + '&'.join(parts)


def upgrade():
    connection = op.get_bind()
    after = 0
    while rows := connection.execute(MAY_HOLD_A_KEY, {'after': after, 'limit': BATCH_ROWS}).all():
        changed = [{'id': id_, 'uri': redacted} for id_, uri in rows if (redacted := redacted_uri(uri)) != uri]
        if changed:
            connection.execute(sa.text('UPDATE api_requests SET uri = :uri WHERE id = :id'), changed)
        after = rows[-1][0]


def downgrade():
    """Nothing to undo: a redacted key is gone, as it should be."""
