"""The address guard: which IP addresses the crawler may connect to (an SSRF defence).

In:  a host name or IP literal from a URL (after every redirect), the guard mode and, in
     loopback mode, a static host map.
Out: the IP to connect to, or a `BlockedAddress` / `UnknownHost` error.

Links from Reddit are untrusted input: a URL (or a redirect) naming 127.0.0.1, 10.0.0.1,
169.254.169.254 (cloud metadata) or a name resolving to them would make the crawler probe the
machine and network it runs on. In "public" mode every address that is not globally routable
is refused: private (RFC 1918, RFC 4193), loopback, link-local (incl. the metadata address),
multicast, reserved, unspecified, shared (RFC 6598) and documentation ranges, in IPv4 and IPv6,
with IPv4 addresses embedded in IPv6 (mapped ::ffff:0:0/96, 6to4 2002::/16, Teredo, NAT64
64:ff9b::/96) checked as the IPv4 address they carry. In "loopback" mode (tests, the offline
demo) it is the other way round: loopback only, names from the host map only, no real DNS.

Plain Python (ipaddress); the Scrapy middleware and resolver that apply it are in fetcher.py.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
GuardMode = Literal["public", "loopback"]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix


class BlockedAddress(Exception):
    """The host is, or resolves to, an address the guard refuses."""


class UnknownHost(Exception):
    """Loopback mode: the host is not in the host map (a dns_error, with no DNS query)."""


def parse_ip(host: str) -> IPAddress | None:
    """The IP address if `host` is an IP literal (brackets allowed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client address; the server part is public by construction
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(ip: IPAddress, mode: GuardMode) -> str | None:
    """Why the guard refuses to connect to `ip` in `mode`, or None if it may."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        why = refusal(inner, mode)
        return f"{ip} embeds {inner}: {why}" if why else None
    if mode == "loopback":
        return None if ip.is_loopback else f"{ip} is not a loopback address (loopback mode)"
    for flag in ("is_loopback", "is_private", "is_link_local", "is_multicast", "is_reserved",
                 "is_unspecified", "is_site_local"):
        if getattr(ip, flag, False):
            return f"{ip} is {flag.removeprefix('is_').replace('_', '-')}"
    if not ip.is_global:  # shared address space, documentation ranges, ...
        return f"{ip} is not globally routable"
    return None


def check_ip(ip: IPAddress, mode: GuardMode) -> IPAddress:
    """`ip` if the guard allows it, else `BlockedAddress`."""
    why = refusal(ip, mode)
    if why:
        raise BlockedAddress(why)
    return ip


def resolve_static(host: str, hosts: dict[str, str]) -> IPAddress:
    """Loopback mode's resolver: an IP literal, or a name from the host map, else UnknownHost."""
    ip = parse_ip(host)
    if ip is not None:
        return ip
    name = host.lower().rstrip(".")
    if name not in hosts:
        raise UnknownHost(f"{host}: not in the loopback host map (no DNS query made)")
    return ipaddress.ip_address(hosts[name])
