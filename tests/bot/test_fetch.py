"""darekana.bot.fetch against real local HTTP servers: pictures come back intact, and no link (or redirect) can make
the bot connect to a private or local address."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from darekana.bot import fetch
from darekana.bot.fetch import (
    PRIVATE_MESSAGE,
    FetchError,
    FetchLimits,
    fetch_picture,
    is_public_address,
    open_session,
)
from darekana.train.shared import DATASETS

pytestmark = pytest.mark.asyncio

PICTURE = DATASETS / "animeface-10" / "000_hatsune_miku" / "SFpLpPSK_400x400.jpg"
# Stands in for a public server: tests that need one mark this loopback address public (see `public_stand_in`).
STAND_IN = "127.0.0.2"
DEFAULTS = FetchLimits()
LOCAL = FetchLimits(allow_private=True, timeout_s=5.0)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@dataclass
class Server:
    """One app listening on 127.0.0.1, 127.0.0.2 (and ::1 when there is one), all on the same port."""

    port: int
    hits: Counter[str] = field(default_factory=Counter)  # requests per local address the server saw
    paths: list[str] = field(default_factory=list)
    host_headers: list[str] = field(default_factory=list)
    huge_sent: int = 0
    huge_done: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def requests(self) -> int:
        return sum(self.hits.values())


def _app(server: Server) -> web.Application:
    picture = PICTURE.read_bytes()

    @web.middleware
    async def count(request: web.Request, handler):  # type: ignore[no-untyped-def]
        server.hits[request.transport.get_extra_info("sockname")[0]] += 1
        server.paths.append(request.path)
        server.host_headers.append(request.headers.get("Host", ""))
        return await handler(request)

    async def picture_handler(_: web.Request) -> web.Response:
        return web.Response(body=picture, content_type="image/jpeg")

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # no Content-Length: only the streaming check can stop it
        response.content_type = "image/jpeg"
        await response.prepare(request)
        chunk = b"\xff" * 65536
        try:
            while server.huge_sent < 200 * 1024 * 1024:
                await response.write(chunk)
                server.huge_sent += len(chunk)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            server.huge_done.set()
        return response

    async def declared(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(50 * 1024 * 1024)})
        response.content_type = "image/jpeg"
        await response.prepare(request)
        await asyncio.wait_for(server.stop.wait(), 30)  # the body never comes: the header alone must do
        return response

    async def slow(_: web.Request) -> web.Response:
        await asyncio.wait_for(server.stop.wait(), 30)
        return web.Response(body=picture, content_type="image/jpeg")

    async def dawdle(request: web.Request) -> web.Response:
        await asyncio.sleep(0.4)
        left = int(request.match_info["left"])
        raise web.HTTPFound(f"/dawdle/{left - 1}" if left > 0 else "/picture.jpg")

    async def missing(_: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="<html><body><img src='/picture.jpg'></body></html>", content_type="text/html")

    async def chain(request: web.Request) -> web.Response:
        left = int(request.match_info["left"])
        # Relative locations, both path-relative and absolute-path, must resolve against the current URL.
        raise web.HTTPFound(f"{left - 1}" if left > 1 else "../picture.jpg")

    async def loop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def to(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["url"])

    app = web.Application(middlewares=[count])
    app.router.add_get("/picture.jpg", picture_handler)
    app.router.add_get("/huge", huge)
    app.router.add_get("/declared", declared)
    app.router.add_get("/slow", slow)
    app.router.add_get("/dawdle/{left}", dawdle)
    app.router.add_get("/missing", missing)
    app.router.add_get("/page.html", page)
    app.router.add_get("/chain/{left}", chain)
    app.router.add_get("/loop", loop)
    app.router.add_get("/to", to)
    return app


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Server]:
    state = Server(port=0)
    runner = web.AppRunner(_app(state))
    await runner.setup()
    first = web.TCPSite(runner, "127.0.0.1", 0)
    await first.start()
    state.port = runner.addresses[0][1]
    await web.TCPSite(runner, STAND_IN, state.port).start()
    if _ipv6_loopback():
        await web.TCPSite(runner, "::1", state.port).start()
    try:
        yield state
    finally:
        state.stop.set()
        await runner.cleanup()


@pytest.fixture
def public_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes 127.0.0.2 count as public, and only it, so default limits can fetch from a local server."""
    stand_in = ipaddress.ip_address(STAND_IN)
    monkeypatch.setattr(fetch, "is_public_address", lambda ip: ip == stand_in or is_public_address(ip))


class StaticResolver(AbstractResolver):
    """Answers from a table; each host's answers are used in turn, the last one repeating."""

    def __init__(self, table: dict[str, list[list[str]]]):
        self.table = table
        self.calls: Counter[str] = Counter()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = self.table[host]
        addresses = answers[min(self.calls[host], len(answers) - 1)]
        self.calls[host] += 1
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        pass


async def refused(url: str, limits: FetchLimits = DEFAULTS, **kwargs: object) -> str:
    with pytest.raises(FetchError) as caught:
        await fetch_picture(url, limits, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


# --- pictures come back ----------------------------------------------------------------------------------


async def test_picture_bytes_come_back_identical(server: Server) -> None:
    assert await fetch_picture(server.url("/picture.jpg"), LOCAL) == PICTURE.read_bytes()
    assert server.paths == ["/picture.jpg"]


async def test_relative_redirect_chain_is_followed_up_to_the_limit(server: Server) -> None:
    data = await fetch_picture(server.url("/chain/3"), FetchLimits(allow_private=True, max_redirects=3))
    assert data == PICTURE.read_bytes()
    assert server.paths == ["/chain/3", "/chain/2", "/chain/1", "/picture.jpg"]


async def test_a_chain_one_longer_than_the_limit_is_refused(server: Server) -> None:
    message = await refused(server.url("/chain/3"), FetchLimits(allow_private=True, max_redirects=2))
    assert message == "the link leads through too many redirects"
    assert "/picture.jpg" not in server.paths


async def test_redirect_loop_is_too_many_redirects(server: Server) -> None:
    message = await refused(server.url("/loop"), FetchLimits(allow_private=True, max_redirects=3))
    assert "too many redirects" in message
    assert server.paths == ["/loop"] * 4


async def test_a_shared_session_from_open_session_serves_many_fetches(server: Server) -> None:
    async with open_session(LOCAL) as session:
        for _ in range(3):
            assert await fetch_picture(server.url("/picture.jpg"), LOCAL, session) == PICTURE.read_bytes()
    assert server.requests == 3


# --- private and local addresses are refused before any request -------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "[::1]", "0.0.0.0", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1", "127.1", "[::]"],
)
async def test_local_addresses_are_refused_without_a_request(server: Server, host: str) -> None:
    # Same port as the live server: were the check missing, these would reach it and be counted.
    assert await refused(server.url("/picture.jpg", host), FetchLimits(timeout_s=2)) == PRIVATE_MESSAGE
    assert server.requests == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/x.jpg",
        "http://169.254.169.254/latest/meta-data",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://224.0.0.1/",
        "http://[::ffff:10.0.0.1]/",
        "https://[2002:7f00:1::]/",
    ],
)
async def test_private_networks_are_refused(url: str) -> None:
    # A short deadline, so that without the check this fails quickly on a timeout message instead.
    assert await refused(url, FetchLimits(timeout_s=1)) == PRIVATE_MESSAGE


async def test_redirect_from_a_public_server_to_a_local_address_is_refused(
    server: Server, public_stand_in: None
) -> None:
    # The stand-in itself is fetchable with the default limits...
    assert await fetch_picture(server.url("/picture.jpg", STAND_IN)) == PICTURE.read_bytes()
    # ...but not when it redirects to 127.0.0.1 or to localhost: the second hop never happens.
    for target in (server.url("/picture.jpg"), server.url("/picture.jpg", "localhost")):
        assert await refused(server.url(f"/to?url={target}", STAND_IN)) == PRIVATE_MESSAGE
    assert server.hits == Counter({STAND_IN: 3})


async def test_redirect_to_another_scheme_is_refused(server: Server, public_stand_in: None) -> None:
    message = await refused(server.url("/to?url=file:///etc/passwd", STAND_IN))
    assert message == "only http(s) links can be fetched"


async def test_host_names_are_vetted_on_every_address_they_resolve_to(server: Server, public_stand_in: None) -> None:
    resolver = StaticResolver({"pictures.test": [[STAND_IN]], "mixed.test": [[STAND_IN, "127.0.0.1"]]})
    async with open_session(FetchLimits(), resolver) as session:
        assert (
            await fetch_picture(f"http://pictures.test:{server.port}/picture.jpg", session=session)
            == PICTURE.read_bytes()
        )
        assert server.host_headers == [f"pictures.test:{server.port}"]  # the name still goes out, for TLS and vhosts
        assert await refused(f"http://mixed.test:{server.port}/picture.jpg", session=session) == PRIVATE_MESSAGE
    assert server.hits == Counter({STAND_IN: 1})


async def test_dns_rebinding_connects_to_the_address_that_was_checked(server: Server, public_stand_in: None) -> None:
    # The first answer is public, every later one private: a check that resolves separately from the
    # connection would pass on the first answer and then connect to 127.0.0.1.
    resolver = StaticResolver({"rebind.test": [[STAND_IN], ["127.0.0.1"]]})
    async with open_session(FetchLimits(), resolver) as session:
        await fetch_picture(f"http://rebind.test:{server.port}/picture.jpg", session=session)
    assert server.hits == Counter({STAND_IN: 1})


async def test_a_session_without_the_safe_connector_is_not_accepted() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TypeError):
            await fetch_picture("http://example.com/picture.jpg", session=session)


async def test_is_public_address() -> None:
    public = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
    private = [
        "127.0.0.1",
        "10.1.2.3",
        "172.31.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.255",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "240.0.0.1",
        "198.18.0.1",
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "fd12::1",
        "ff02::1",
        "ff0e::1",
        "::ffff:127.0.0.1",
        "::ffff:192.168.0.1",
        "2002:a00:1::",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "64:ff9b::a00:1",
        "::7f00:1",
        "2001:db8::1",
    ]
    assert [ip for ip in public if not is_public_address(ipaddress.ip_address(ip))] == []
    assert [ip for ip in private if is_public_address(ipaddress.ip_address(ip))] == []


# --- malformed links ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://example.com/picture.jpg", "only http(s) links can be fetched"),
        ("file:///etc/passwd", "only http(s) links can be fetched"),
        ("javascript:alert(1)", "only http(s) links can be fetched"),
        ("not a url", "that is not a link: send an http(s) link to a picture"),
        ("", "that is not a link: send an http(s) link to a picture"),
        ("   ", "that is not a link: send an http(s) link to a picture"),
        ("http:///picture.jpg", "that link has no host name"),
        ("http://[::1/", "that is not a link I can read"),
    ],
)
async def test_malformed_links_are_refused_clearly(url: str, expected: str) -> None:
    assert await refused(url) == expected


async def test_links_with_user_info_are_refused(server: Server) -> None:
    for userinfo in ("user:secret@", "user@"):
        url = f"http://{userinfo}127.0.0.1:{server.port}/picture.jpg"
        assert await refused(url, LOCAL) == "links with a user name or password in them are not fetched"
    assert server.requests == 0


# --- answers that are not a picture ---------------------------------------------------------------------


async def test_http_errors_are_reported_with_their_status(server: Server) -> None:
    assert await refused(server.url("/missing"), LOCAL) == "the link answered HTTP 404"


async def test_web_pages_are_refused(server: Server) -> None:
    assert await refused(server.url("/page.html"), LOCAL) == "that link is a web page, not a picture"


async def test_connection_errors_are_short_fetch_errors() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    message = await refused(f"http://127.0.0.1:{port}/picture.jpg", LOCAL)
    assert message.startswith("could not fetch the link: ") and len(message) < 160


# --- size and time limits ----------------------------------------------------------------------------------


async def test_a_streamed_body_is_cut_off_at_the_size_limit(server: Server) -> None:
    limits = FetchLimits(allow_private=True, max_bytes=100 * 1024)
    assert await refused(server.url("/huge"), limits) == "the picture is larger than 100 KB"
    # The server's writes fail soon after we hang up: far from the 200 MB it would otherwise send.
    await asyncio.wait_for(server.huge_done.wait(), 5)
    assert server.huge_sent < 32 * 1024 * 1024


async def test_a_declared_length_over_the_limit_is_refused_before_reading(server: Server) -> None:
    started = time.monotonic()
    assert await refused(server.url("/declared"), LOCAL) == "the picture is larger than 20 MB"
    assert time.monotonic() - started < 2  # the body never arrives, so reading it would have timed out


async def test_a_slow_server_times_out_quickly(server: Server) -> None:
    started = time.monotonic()
    message = await refused(server.url("/slow"), FetchLimits(allow_private=True, timeout_s=0.5))
    assert message == "the link took too long to answer"
    assert time.monotonic() - started < 2


async def test_the_deadline_covers_all_redirects_together(server: Server) -> None:
    # Each hop answers within 0.4 s, well inside 1 s; the five of them together do not.
    limits = FetchLimits(allow_private=True, timeout_s=1.0, max_redirects=5)
    started = time.monotonic()
    assert await refused(server.url("/dawdle/4"), limits) == "the link took too long to answer"
    assert time.monotonic() - started < 2
