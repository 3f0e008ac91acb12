"""Fetching a picture by URL for the bot, without letting a URL reach inside our own network.

Anyone who can send the bot a link can make the server issue an HTTP request: server-side request
forgery (SSRF). Unguarded, ``http://169.254.169.254/latest/meta-data`` would read cloud credentials and
``http://127.0.0.1:5432/`` would probe local services, and the bot would happily relay what it found.
So every link, and every redirect it leads to, is checked before a byte is sent:

* only http(s), with a host and without ``user:password@``;
* every address the host resolves to must be public (``is_public_address``): one private answer is
  enough to refuse, since we cannot tell which one the connection would use;
* the connection goes to exactly the addresses that were checked: the check lives in the connector's
  resolver (``SafeResolver``), so a DNS server answering "public" to the check and "private" to the
  connect (DNS rebinding) gains nothing. TLS still verifies the certificate against the host name;
* redirects are followed by hand, each hop checked again; the body is streamed and cut off at the size
  limit; one deadline covers the whole fetch.

Every failure is a ``FetchError`` whose message can be shown to the person who sent the link.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from darekana.recognizer.images import DecodeLimits

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PRIVATE_MESSAGE = "that link points to a private or local address, which I won't fetch"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
CHUNK_BYTES = 64 * 1024
# 100.64.0.0/10 (carrier-grade NAT) is not global, but ipaddress does not call it private either.
CGNAT = ipaddress.ip_network("100.64.0.0/10")
# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits and routes to it.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int = DecodeLimits.max_bytes  # no more than a picture may be
    timeout_s: float = 10.0  # whole fetch, redirects included, connect to last byte
    max_redirects: int = 3
    allow_private: bool = False  # tests of our own local servers set this; never the default


class FetchError(ValueError):
    """A link that could not be fetched; the message is shown to the person who sent the URL."""


# --- which addresses may be fetched --------------------------------------------------------------------


def is_public_address(ip: IPAddress) -> bool:
    """True when ``ip`` is a globally routable unicast address, looking through IPv6 forms that embed an
    IPv4 address (mapped, 6to4, Teredo, NAT64) since those reach the embedded address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return is_public_address(ip.ipv4_mapped)  # ::ffff:a.b.c.d is a.b.c.d to the socket layer
    for embedded in _embedded_ipv4(ip):
        if not is_public_address(embedded):
            return False
    return (
        ip.is_global
        and not ip.is_multicast
        and not ip.is_reserved
        and not ip.is_unspecified
        and not ip.is_loopback
        and not ip.is_link_local
        and not ip.is_private
        and not (ip.version == 4 and ip in CGNAT)
    )


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = [ip.sixtofour, *(ip.teredo or ())]
    if ip in NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [address for address in found if address is not None]


def _literal_address(host: str) -> IPAddress | None:
    """The address a host names by itself: ``1.2.3.4``, ``::1``, and the legacy numeric IPv4 forms
    (``2130706433``, ``0x7f.1``, ``127.1``) that the C library would still connect to."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _check_address(ip: IPAddress, limits: FetchLimits) -> None:
    # Looked up at call time on purpose: tests replace is_public_address to mark a test address public.
    if not limits.allow_private and not is_public_address(ip):
        raise FetchError(PRIVATE_MESSAGE)


class SafeResolver(AbstractResolver):
    """Resolves with ``inner`` and refuses the host unless every address is allowed. aiohttp connects only
    to what the resolver returns, so the addresses checked are the addresses used."""

    def __init__(self, limits: FetchLimits, inner: AbstractResolver | None = None):
        self._limits = limits
        self._inner = inner if inner is not None else aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not results:
            raise FetchError("could not fetch the link: its host name does not resolve")
        for result in results:
            ip = _literal_address(result["host"])
            if ip is None:
                raise FetchError(PRIVATE_MESSAGE)  # an answer we cannot judge is not one we connect to
            _check_address(ip, self._limits)
        return results

    async def close(self) -> None:
        await self._inner.close()


class SafeConnector(aiohttp.TCPConnector):
    """A TCPConnector whose resolver vets every address; the type marks sessions that are safe to use."""

    def __init__(self, limits: FetchLimits, resolver: AbstractResolver | None = None):
        super().__init__(resolver=SafeResolver(limits, resolver))


def open_session(
    limits: FetchLimits = FetchLimits(), resolver: AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """A session for many ``fetch_picture`` calls (call it inside the running loop; close it after).
    ``resolver`` replaces the DNS lookup whose answers get vetted (tests, or aiodns)."""
    return aiohttp.ClientSession(
        connector=SafeConnector(limits, resolver),
        timeout=aiohttp.ClientTimeout(total=limits.timeout_s),
        trust_env=False,
    )  # a proxy from the environment would connect for us, unvetted


# --- fetching ------------------------------------------------------------------------------------------


def _parse(url: str) -> URL:
    text = url.strip()
    if not text:
        raise FetchError("that is not a link: send an http(s) link to a picture")
    try:
        parsed = URL(text)
    except (ValueError, UnicodeError) as exc:
        raise FetchError("that is not a link I can read") from exc
    return parsed


def _vet(url: URL, limits: FetchLimits) -> None:
    """Refuses a URL (the first one, or a redirect's) before any request is made for it."""
    if not url.absolute and not url.scheme:
        raise FetchError("that is not a link: send an http(s) link to a picture")
    if url.scheme not in ("http", "https"):
        raise FetchError("only http(s) links can be fetched")
    try:
        host = url.raw_host
    except (ValueError, UnicodeError) as exc:
        raise FetchError("that link's host name is not valid") from exc
    if not host:
        raise FetchError("that link has no host name")
    if url.raw_user is not None or url.raw_password is not None:
        raise FetchError("links with a user name or password in them are not fetched")
    # Host names are checked by SafeResolver; addresses written in the URL never reach a resolver.
    ip = _literal_address(host)
    if ip is not None:
        _check_address(ip, limits)
        if ip.version == 4 and host != str(ip):
            raise FetchError("that link writes its address in an unusual way; use the dotted form")


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{round(n / (1024 * 1024), 1):g} MB"
    if n >= 1024:
        return f"{round(n / 1024, 1):g} KB"
    return f"{n} bytes"


async def _read_body(response: aiohttp.ClientResponse, limits: FetchLimits) -> bytes:
    too_large = FetchError(f"the picture is larger than {_size(limits.max_bytes)}")
    if response.content_length is not None and response.content_length > limits.max_bytes:
        raise too_large
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
        total += len(chunk)
        if total > limits.max_bytes:  # Content-Length can be absent or lie; stop at the limit anyway
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _next_url(response: aiohttp.ClientResponse, current: URL) -> URL | None:
    """Where a redirect leads (relative locations resolved against ``current``), else None."""
    location = response.headers.get("Location")
    if response.status not in REDIRECT_STATUSES or not location:
        return None
    try:
        return current.join(URL(location))
    except (ValueError, UnicodeError) as exc:
        raise FetchError("the link redirects to something that is not a link") from exc


async def _follow(url: URL, limits: FetchLimits, session: aiohttp.ClientSession) -> bytes:
    # Identity encoding: a compressed body could expand far past what the size check saw on the wire.
    headers = {"Accept": "image/*", "Accept-Encoding": "identity", "User-Agent": "darekana-bot"}
    for _ in range(limits.max_redirects + 1):
        _vet(url, limits)
        async with session.get(
            url,
            headers=headers,
            allow_redirects=False,
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=limits.timeout_s),
        ) as response:
            target = _next_url(response, url)
            if target is not None:
                url = target
                continue
            if not 200 <= response.status < 300:
                raise FetchError(f"the link answered HTTP {response.status}")
            if response.content_type in HTML_TYPES:
                raise FetchError("that link is a web page, not a picture")
            return await _read_body(response, limits)
    raise FetchError("the link leads through too many redirects")


def _connection_message(exc: Exception) -> str:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"could not fetch the link: {reason[:120]}"


async def fetch_picture(
    url: str, limits: FetchLimits = FetchLimits(), session: aiohttp.ClientSession | None = None
) -> bytes:
    """The bytes at ``url``, or FetchError with a message for the sender. A ``session`` passed in must come
    from ``open_session`` (unless ``limits.allow_private``): only its connector vets the addresses."""
    if session is not None and not limits.allow_private and not isinstance(session.connector, SafeConnector):
        raise TypeError("fetch_picture needs a session from open_session(), whose connector vets addresses")
    parsed = _parse(url)
    _vet(parsed, limits)  # refuse obvious cases before opening anything
    try:
        async with asyncio.timeout(limits.timeout_s):
            if session is not None:
                return await _follow(parsed, limits, session)
            async with open_session(limits) as own:
                return await _follow(parsed, limits, own)
    except FetchError:
        raise
    except TimeoutError as exc:  # before OSError: TimeoutError is one, and aiohttp's timeouts subclass it
        raise FetchError("the link took too long to answer") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise FetchError(_connection_message(exc)) from exc
    except (ValueError, UnicodeError) as exc:
        raise FetchError("that link could not be read") from exc
