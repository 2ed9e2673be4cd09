"""Who sent a request: the address the webhook's TradingView allowlist checks.

- On Cloudflare: `CF-Connecting-IP`, which Cloudflare's edge sets itself (a client's own header of
  that name is overwritten), so it cannot be forged.
- Locally: the socket peer. `X-Forwarded-For` and `Forwarded` are believed only when the peer is
  listed in `webhook:trusted_proxies`; the client is then the right-most address of the chain
  (the header's addresses, then the peer) that is not a trusted proxy. Whatever stands left of it
  was written by whoever the trusted proxy talked to, so it may be forged. When a request carries
  both headers they must name the same client, else the address is unknown: a proxy that sets one
  of them passes the other through from the client untouched.

uvicorn's own rewriting of the client address from these headers (its `proxy_headers`) is turned
off in the local runtime: it trusts them from any loopback peer, so a local client could claim to
be TradingView.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # an annotation only: the CLI's client imports this module without the server stack
    from starlette.requests import Request

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def on_cloudflare() -> bool:
    return sys.platform == "emscripten"  # Pyodide


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1): a URL's host that never leaves the machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _address(text: str) -> IPAddress | None:
    """An address from a header entry: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:80`, `2001:db8::1`."""
    t = text.strip().strip('"').strip()
    if t.startswith("["):
        t = t[1:].split("]", 1)[0]
    elif t.count(":") == 1:  # IPv4 with a port
        t = t.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(t)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return addr.ipv4_mapped
    return addr


def _networks(entries: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except (ValueError, AttributeError):
            continue  # a malformed entry matches nothing
    return out


def _in(addr: IPAddress, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    return any(addr in n for n in networks)


def ip_allowed(ip: str | None, allowed: list[str]) -> bool:
    """Exact addresses or CIDR ranges (`52.89.214.238`, `10.0.0.0/8`); IPv4-mapped IPv6 counts as IPv4."""
    addr = _address(ip) if ip else None
    return addr is not None and _in(addr, _networks(allowed))


def _forwarded_for(values: list[str]) -> list[IPAddress | None]:
    """The `for=` addresses of RFC 7239 `Forwarded` headers, in order (None: unknown or obfuscated)."""
    out: list[IPAddress | None] = []
    for value in values:
        for element in value.split(","):
            for pair in element.split(";"):
                name, _, val = pair.partition("=")
                if name.strip().lower() == "for":
                    out.append(_address(val))
    return out


def _forwarded_chain(values: list[str]) -> list[IPAddress | None]:
    return [_address(part) for value in values for part in value.split(",") if part.strip()]


def _client_of(chain: list[IPAddress | None], trusted: list) -> IPAddress | None:
    for addr in reversed(chain):
        if addr is None:
            return None  # garbage where the next hop should be: no address can be believed
        if not _in(addr, trusted):
            return addr
    return chain[0]  # every hop is a trusted proxy: the first one is the client


def client_ip(request: Request, trusted_proxies: Sequence[str] = ()) -> str | None:
    """The client's address as described in the module docstring; None when it is unknown."""
    if on_cloudflare():
        return request.headers.get("cf-connecting-ip")
    client = request.scope.get("client")
    peer = _address(client[0]) if client else None
    if peer is None:
        return None
    trusted = _networks(trusted_proxies)
    if not trusted or not _in(peer, trusted):
        return str(peer)
    chains = []
    xff = request.headers.getlist("x-forwarded-for")
    if xff:
        chains.append(_forwarded_chain(xff))
    forwarded = request.headers.getlist("forwarded")
    if forwarded:
        chains.append(_forwarded_for(forwarded))
    if not chains:
        return str(peer)
    found = {_client_of([*chain, peer], trusted) for chain in chains}
    if len(found) != 1:
        return None
    addr = found.pop()
    return str(addr) if addr is not None else None
