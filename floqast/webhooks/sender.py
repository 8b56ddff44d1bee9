"""One HTTP POST of a signed message to a checked address: no redirect followed, a timeout on every step and on the
whole answer, and no more of the answer read than ANSWER_BYTES."""

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from floqast.webhooks.addresses import Target

# Seconds: to connect (and TLS), for each read, and for the whole answer, after which the attempt has failed.
CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 10.0
# The most of an answer that is read; the rest is never downloaded.
ANSWER_BYTES = 64 * 1024
USER_AGENT = "FloQast-Webhooks/1"


@dataclass(frozen=True)
class Answer:
    """What an attempt got: the status code (None when no answer came) and the start of the body or the error."""

    status_code: int | None
    text: str

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(target: Target, headers: dict[str, str], body: str) -> Answer:
    """POST `body` as JSON to `target`'s checked address (its host name for Host, SNI and the certificate)."""
    deadline = time.monotonic() + TOTAL_TIMEOUT
    if target.scheme == "https":
        connection = http.client.HTTPSConnection(target.host, target.port, timeout=CONNECT_TIMEOUT,
                                                 context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=CONNECT_TIMEOUT)
    # Connect to the address that was checked, never to a second lookup of the name.
    connection._create_connection = lambda _, timeout, source: socket.create_connection(
        (target.address, target.port), timeout, source)
    try:
        connection.request("POST", target.path, body=body.encode(), headers={
            **headers, "Content-Type": "application/json", "User-Agent": USER_AGENT})
        sock = connection.sock
        response = connection.getresponse()
        return Answer(response.status, _read_capped(response, sock, deadline).decode(errors="replace"))
    except (OSError, http.client.HTTPException) as error:
        return Answer(None, _why(error))
    finally:
        connection.close()


def _read_capped(response: http.client.HTTPResponse, sock: socket.socket, deadline: float) -> bytes:
    """At most ANSWER_BYTES of the answer, read before the deadline; what comes after is left unread."""
    read = b""
    while len(read) < ANSWER_BYTES and (left := deadline - time.monotonic()) > 0:
        sock.settimeout(min(left, CONNECT_TIMEOUT))
        try:
            chunk = response.read1(ANSWER_BYTES - len(read))
        except TimeoutError:
            break
        if not chunk:
            break
        read += chunk
    return read


def _why(error: Exception) -> str:
    if isinstance(error, TimeoutError | socket.timeout):
        return f"No answer within {CONNECT_TIMEOUT:g} seconds."
    if isinstance(error, ssl.SSLError):
        return f"TLS failed: {error}"
    return " ".join(f"{type(error).__name__}: {error}".split())
