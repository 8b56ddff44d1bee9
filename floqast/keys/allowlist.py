"""A key's allowed IP addresses: read from an admin's list, stored normalised, checked on every pull.

Stored as one string of comma-separated networks in CIDR form ("203.0.113.7/32,2001:db8::/32"), or NULL for
any address: it travels with the key's row in the key check's one SELECT, and a string can key the caches
that spare a pull from parsing it again. No Flask here.
"""

import ipaddress
import re
from functools import lru_cache

MAX_ENTRIES = 20
# The longest stored list: 20 IPv6 networks in CIDR form (at most 43 characters each) and their commas.
STORED_LENGTH = 1000
SEPARATORS = re.compile(r"[\s,]+")
# A message names this many bad entries at most, each cut to this length: a pasted log is not echoed whole.
NAMED_AT_MOST = 5
NAMED_LENGTH = 50

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def network(entry: str) -> Network:
    """One entry as a network; an IPv4 address written as IPv6 (::ffff:203.0.113.7) is taken as the IPv4 one,
    as a pull from it is. ValueError when it is not an address or a range, or has bits set past its prefix."""
    found = ipaddress.ip_network(entry)
    mapped = found.network_address.ipv4_mapped if found.version == 6 and found.prefixlen >= 96 else None
    return found if mapped is None else ipaddress.ip_network(f"{mapped}/{found.prefixlen - 96}")


def _named(entry: str) -> str:
    """A bad entry as a message names it, with what was probably meant when only its host bits are wrong."""
    shown = f"“{entry[:NAMED_LENGTH]}…”" if len(entry) > NAMED_LENGTH else f"“{entry}”"
    try:
        return f"{shown} (the range is {ipaddress.ip_network(entry, strict=False)})"
    except ValueError:
        return shown


def parse(text: str) -> str | None:
    """The stored form of an admin's list (one entry a line, or separated by commas): each network once, IPv4
    first, in order, so that one set of networks has one stored form; None when it is empty (any address).
    ValueError with a message naming each bad entry, or saying the list is too long."""
    networks, bad = [], []
    for entry in filter(None, SEPARATORS.split(text)):
        try:
            found = network(entry)
        except ValueError:
            bad.append(entry)
            continue
        if found not in networks:
            networks.append(found)
    if bad:
        named = ", ".join(_named(entry) for entry in bad[:NAMED_AT_MOST])
        more = f" and {len(bad) - NAMED_AT_MOST} more" if len(bad) > NAMED_AT_MOST else ""
        noun = "an IP address or CIDR range" if len(bad) == 1 else "IP addresses or CIDR ranges"
        raise ValueError(f"Not {noun}: {named}{more}.")
    if len(networks) > MAX_ENTRIES:
        raise ValueError(f"Enter at most {MAX_ENTRIES} addresses or ranges; this list has {len(networks)}.")
    networks.sort(key=lambda found: (found.version, found))
    return ",".join(found.with_prefixlen for found in networks) or None


@lru_cache(maxsize=1024)
def networks(stored: str) -> tuple[Network, ...]:
    """The networks of a stored list, parsed once per distinct list."""
    return tuple(ipaddress.ip_network(part) for part in stored.split(","))


@lru_cache(maxsize=4096)
def allows(stored: str, ip: str | None) -> bool:
    """Whether a client at `ip` is in a stored list: cached by both, since a key is pulled from few addresses."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:  # no address (None), or one the server could not read
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    return any(address in allowed for allowed in networks(stored))


def shown(stored: str | None) -> list[str]:
    """A stored list as people write it: single addresses without their /32 or /128."""
    if stored is None:
        return []
    return [str(allowed.network_address) if allowed.prefixlen == allowed.max_prefixlen else allowed.with_prefixlen
            for allowed in networks(stored)]
