"""Where a webhook may be sent: an https:// URL whose host resolves only to public addresses, checked when it is
sent (a name may point elsewhere tomorrow), and the address checked is the one connected to, so that a second
lookup (DNS rebinding) cannot point the request elsewhere. WEBHOOK_ALLOW_PRIVATE_ADDRESSES lifts both rules."""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from floqast.webhooks.models import URL_LENGTH


class TargetRefused(ValueError):
    """The URL may not be sent to; the message says why, for the admin."""


@dataclass(frozen=True)
class Target:
    """A checked URL: the scheme, the host name (for the Host header and the certificate), the port, the path and
    query, and the address to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def check_url(url: str, allow_private: bool) -> tuple[str, str, int, str]:
    """The scheme, host, port and path of a URL an endpoint may have, or TargetRefused saying why not."""
    if len(url) > URL_LENGTH:
        raise TargetRefused(f"The URL is longer than {URL_LENGTH} characters.")
    if not url.isascii() or any(char.isspace() or not char.isprintable() for char in url):
        raise TargetRefused("The URL may hold no spaces, control characters or non-ASCII letters: encode them "
                            "(an internationalised host name in its xn-- form).")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused("This is not a URL. Enter one such as https://hooks.example.com/floqast.") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise TargetRefused("Enter an https:// URL, such as https://hooks.example.com/floqast.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("The URL may not hold a user name or password: receivers check the signature instead.")
    if parts.fragment:
        raise TargetRefused("The URL may not hold a #fragment.")
    if not allow_private:
        try:
            literal = ipaddress.ip_address(parts.hostname)
        except ValueError:
            literal = None
        if literal is not None and not is_public(literal):
            raise TargetRefused(f"{parts.hostname} is not a public address: webhooks go only to the internet.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is on the internet: not loopback, private, link-local (cloud metadata at 169.254.169.254
    among them), shared, reserved or multicast; an IPv4 address inside IPv6 is judged as itself."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo and address.teredo[1])
        if embedded:
            return is_public(embedded)
    return address.is_global and not address.is_multicast


def resolve(url: str, allow_private: bool) -> Target:
    """The URL checked and its host looked up now: every address it resolves to must be public (unless allowed),
    and the first is the one to connect to; TargetRefused otherwise."""
    scheme, host, port, path = check_url(url, allow_private)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise TargetRefused(f"{host} could not be looked up ({error}).") from None
    addresses = list(dict.fromkeys(info[4][0] for info in found))
    if not allow_private:
        refused = [address for address in addresses if not is_public(ipaddress.ip_address(address.split("%")[0]))]
        if refused:
            raise TargetRefused(f"{host} resolves to {', '.join(refused)}, which is not a public address: webhooks go "
                                "only to the internet.")
    return Target(scheme, host, port, path, addresses[0])
