"""What a request says about where it was sent and where it came from, and how much of it is believed.

The Host header, X-Forwarded-* and the client's address are written by whoever
sends the request. Callback URLs handed to the provider must never come from
them (a forged Host would send the provider's TwiML fetches and status
callbacks to a server of the sender's choosing), so the base of every callback
URL is configuration (PUBLIC_BASE_URL), the address `serve` bound, or the
socket the request arrived on (the ASGI scope's "server", which the client
cannot change).

The client's address, which lockouts and backoff key on, is the platform's own
reading of the socket peer and X-Forwarded-For (`client_address`): the list is
walked from the right, past the proxies the operator trusts by address
(FORWARDED_ALLOW_IPS) and then past FORWARDED_TRUSTED_HOPS more whose
addresses are not known (a PaaS router); the first entry not passed is the
client. Entries to its left were written by the client and are never read.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from urllib.parse import urlsplit

from starlette.responses import PlainTextResponse

# A DNS name is at most 253 characters; with a port and IPv6 brackets, 300 is generous.
MAX_HOST = 300
# An IP address (v4, v6 with a zone) or a host name, as a client address can be.
CLIENT_ADDRESS = re.compile(r"[0-9A-Za-z.:%_-]{1,64}")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_UNSPECIFIED = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def http_base(host: str, port: int | None) -> str:
    """http://host:port for a bound address; the wildcard address means this machine's loopback,
    since the embedded carrier that calls it runs on the same machine."""
    host = _UNSPECIFIED.get(host, host)
    default = port in (None, 80)
    return f"http://{_url_host(host)}" + ("" if default else f":{port}")


def socket_base(scope) -> str:
    """The base URL of the socket the request arrived on (not the Host header the client wrote)."""
    server = scope.get("server")
    if not server or server[1] is None:  # a Unix socket: nothing reachable over TCP to name
        return "http://127.0.0.1"
    return http_base(str(server[0]), int(server[1]))


def host_of(header: str) -> str:
    """The name in a Host header, without its port: `example.com`, `127.0.0.1`, `[::1]`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1] if "]" in header else header
    return header.split(":", 1)[0]


def default_allowed_hosts(public_base_url: str | None, listen_url: str | None) -> tuple[str, ...]:
    hosts = list(LOOPBACK_HOSTS)
    for url in (public_base_url, listen_url):
        if url:
            hosts.append(host_of(urlsplit(url).netloc.rpartition("@")[2]))
    return tuple(dict.fromkeys(hosts))


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    for pattern in allowed:
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


class TrustedHostMiddleware:
    """400 for a request whose Host is not one of ours, or is absurdly long (`*` lifts only the first).

    Starlette's own middleware splits the port off at the first colon, which
    cuts an IPv6 literal to "[": this one knows brackets.
    """

    def __init__(self, app, allowed_hosts: tuple[str, ...]):
        self.app = app
        self.allowed = tuple(host.lower() for host in allowed_hosts)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        refused = host_refusal(scope, self.allowed)
        if refused is not None:
            return await PlainTextResponse(refused, status_code=400)(scope, receive, send)
        return await self.app(scope, receive, send)


def host_refusal(scope, allowed: tuple[str, ...]) -> str | None:
    """Why a request's Host is refused (the 400's text), None when it is one of `allowed` (lower case)."""
    raw = b""
    for name, value in scope["headers"]:
        if name == b"host":
            raw = value
            break
    if len(raw) > MAX_HOST:
        return "Host header too long"
    if not host_allowed(host_of(raw.decode("latin-1")), allowed):
        return "Invalid host header"
    return None


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def trusted_networks(raw: str) -> tuple[Network, ...]:
    """FORWARDED_ALLOW_IPS, comma-separated addresses or networks (`10.0.0.0/8`), parsed; ValueError
    names an entry that is neither. `*` is not among them: a proxy trusted whatever its address lets
    every client write its own address (settings.check refuses it)."""
    networks = []
    for entry in (item.strip() for item in raw.split(",")):
        if not entry:
            continue
        if entry == "*":
            raise ValueError("*")
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(entry) from None
    return tuple(networks)


@functools.lru_cache(maxsize=8)
def _networks(raw: str) -> tuple[Network, ...]:
    return trusted_networks(raw)


def _address(entry: str) -> Address | None:
    """An X-Forwarded-For entry (or the peer) as an address: `192.0.2.1`, `192.0.2.1:443`, `[2001:db8::1]:443`."""
    entry = entry.strip()
    if entry.startswith("["):
        entry = entry[1:entry.find("]")] if "]" in entry else entry
    elif entry.count(":") == 1:
        entry = entry.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(entry)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _forwarded_for(scope) -> list[str]:
    entries: list[str] = []
    for name, value in scope.get("headers") or ():
        if name == b"x-forwarded-for":
            entries += [item.strip() for item in value.decode("latin-1").split(",")]
    return entries


def original_client(peer: str | None, forwarded_for: list[str], networks: tuple[Network, ...], hops: int) -> str:
    """The client's address in the chain X-Forwarded-For + [peer], read from the right.

    Each step to the left passes a proxy: one whose address is in `networks`,
    or, once those run out, one of the `hops` proxies believed by count. The
    first entry not passed is the client (the leftmost if every one is passed).
    """
    if not peer:
        return "unknown"
    chain = [*forwarded_for, peer]
    index = len(chain) - 1
    left = hops
    while index > 0:
        address = _address(chain[index])
        if address is not None and any(address in network for network in networks):
            index -= 1
        elif left > 0 and (address is not None or index == len(chain) - 1):
            left -= 1
            index -= 1
        else:
            break
    found = chain[index]
    address = _address(found)
    if address is not None:
        return str(address)
    # The peer may be no IP address (a Unix socket, a test client's name): it is still who sent the request.
    return found if index == len(chain) - 1 and CLIENT_ADDRESS.fullmatch(found) else "unknown"


def client_address(request) -> str:
    """The client's address, or "unknown", for the lockouts to key on: the socket peer, or where
    trusted proxies say the request came from (FORWARDED_ALLOW_IPS, FORWARDED_TRUSTED_HOPS)."""
    client = request.scope.get("client")
    peer = str(client[0]) if client else None
    platform = getattr(request.app.state, "platform", None)
    if platform is None:
        return original_client(peer, [], (), 0)
    settings = platform.settings
    return original_client(peer, _forwarded_for(request.scope), _networks(settings.forwarded_allow_ips),
                           settings.forwarded_trusted_hops)
