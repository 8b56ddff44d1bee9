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
# The longest list an admin may type: 20 of the longest entries (49 characters:
# 0000:0000:0000:0000:0000:ffff:255.255.255.255/128) with room for spaces and line breaks.
TYPED_LENGTH = 2000
SEPARATORS = re.compile(r"[\s,]+")
# A message names this many bad entries at most, each cut to this length: a pasted log is not echoed whole.
NAMED_AT_MOST = 5
NAMED_LENGTH = 50

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _unmapped(found: Network) -> Network:
    """An IPv4 network written as IPv6 (::ffff:203.0.113.0/120) as the IPv4 one, as a pull from it is."""
    mapped = found.network_address.ipv4_mapped if found.version == 6 and found.prefixlen >= 96 else None
    return found if mapped is None else ipaddress.ip_network(f"{mapped}/{found.prefixlen - 96}")


def network(entry: str) -> Network:
    """One entry as a network, an IPv4 one written as IPv6 taken as the IPv4 one. ValueError when it is not an
    address or a range, has bits set past its prefix, or names a network interface (a zone id, fe80::1%eth0:
    meaningless to a server, and it would be stored at any length)."""
    if "%" in entry:
        raise ValueError("an address with a zone id")
    return _unmapped(ipaddress.ip_network(entry))


def _quoted(entry: str) -> str:
    return f"“{entry[:NAMED_LENGTH]}…”" if len(entry) > NAMED_LENGTH else f"“{entry}”"


def _near_miss(entry: str) -> str | None:
    """What is wrong with a bad entry that is nearly right, in words that say what to write instead; None for an
    entry that is no address at all."""
    try:
        widened = _unmapped(ipaddress.ip_network(entry, strict=False))
    except ValueError:
        return None
    if "%" in entry:
        return f"Remove the zone id from {_quoted(entry)}: an allowed address cannot name a network interface."
    address = _unmapped(ipaddress.ip_network(entry.partition("/")[0])).network_address
    return f"{_quoted(entry)} has host bits set. Use {widened} for the range or {address} for one address."


def _refusal(bad: list[str]) -> str:
    """The message naming the first bad entries: those that are no address together, each near miss on its own."""
    named = [(entry, _near_miss(entry)) for entry in bad[:NAMED_AT_MOST]]
    unreadable = [_quoted(entry) for entry, near_miss in named if near_miss is None]
    sentences = []
    if unreadable:
        noun = "an IP address or CIDR range" if len(unreadable) == 1 else "IP addresses or CIDR ranges"
        sentences.append(f"Not {noun}: {', '.join(unreadable)}.")
    sentences += [near_miss for _, near_miss in named if near_miss]
    if more := len(bad) - len(named):
        sentences.append(f"{more} more {'entry' if more == 1 else 'entries'} cannot be used either.")
    return " ".join(sentences)


def parse(text: str) -> str | None:
    """The stored form of an admin's list (one entry a line, or separated by commas): each network once, IPv4
    first, in order, so that one set of networks has one stored form; None when it is empty (any address).
    ValueError with a message saying the list is too long, or naming each bad entry."""
    entries = list(filter(None, SEPARATORS.split(text)))
    # Counted before anything is parsed: a pasted log is refused at once, whatever its size.
    if len(entries) > MAX_ENTRIES:
        raise ValueError(f"Enter at most {MAX_ENTRIES} addresses or ranges; this list has {len(entries):,}.")
    if len(text) > TYPED_LENGTH:
        raise ValueError(f"Use at most {TYPED_LENGTH:,} characters; this list has {len(text):,}.")
    networks, bad = {}, []  # a dict: each network once, found in one step whatever the list's length
    for entry in entries:
        try:
            networks.setdefault(network(entry))
        except ValueError:
            bad.append(entry)
    if bad:
        raise ValueError(_refusal(bad))
    ordered = sorted(networks, key=lambda found: (found.version, found))
    return ",".join(found.with_prefixlen for found in ordered) or None


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
