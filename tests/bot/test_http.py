"""The HTTP API on a real socket over a real service, bundle and SQLite database: answers, stored feedback,
moderator endpoints, and bad input on every entry point answered as JSON with nothing stored."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import logging
import re
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from darekana.bot.callers import Place, Requester
from darekana.bot.errors import ServiceError
from darekana.bot.http.api import make_app
from darekana.bot.http.bodies import read_json, read_picture
from darekana.bot.service import Service
from darekana.bot.storage.models import RecognitionRow
from darekana.train.shared import DATASETS

from pictures import group_picture

Serve = Callable[[Service], Awaitable[TestClient]]
TOKEN = "s3cret-moderator-token"
MODERATOR = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Starts the app of a service on 127.0.0.1 (a free port) and gives a client for it."""
    clients: list[TestClient] = []

    async def start(service: Service) -> TestClient:
        client = TestClient(TestServer(make_app(service, service.settings), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


def upload(data: bytes, field: str = "image", filename: str = "picture.png") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field(field, data, filename=filename, content_type="application/octet-stream")
    return form


def counts(service: Service) -> tuple[int, int, int]:
    """Recognitions, faces, and corrections and confirmations: what bad input must leave unchanged."""
    stats = service.store.stats()
    return stats.recognitions, stats.faces, sum(stats.by_status.values())


async def answer(response: aiohttp.ClientResponse) -> tuple[int, Any]:
    assert response.content_type == "application/json", await response.text()
    return response.status, await response.json()


async def whois(client: TestClient, picture: bytes, query: str = "") -> dict:
    status, body = await answer(await client.post(f"/api/v1/whois{query}", data=upload(picture)))
    assert status == 200, body
    return body


# --- answers and feedback ----------------------------------------------------------------------------


async def test_a_picture_is_named_and_stored_per_client(make_service, serve: Serve, known_picture: tuple[bytes, str]):
    service = make_service(user_rate="1000/1")
    client = await serve(service)
    picture, label = known_picture
    reply = await whois(client, picture)
    [face] = reply["faces"]
    assert (face["label"], face["number"]) == (label, 1)
    assert reply["text"] == f"1. {face['text']}" and face["name"] in face["text"]
    assert len(face["box"]) == 4 and face["candidates"][0]["label"] == label
    assert "annotated_png" not in reply
    assert service.store.face(face["id"]).label == label
    with Session(service.store.engine) as session:
        stored = session.scalars(select(RecognitionRow)).one()
    assert (stored.id, stored.platform, stored.user_id, stored.channel_id) == (
        reply["recognition_id"],
        "http",
        "127.0.0.1",
        "127.0.0.1",
    )
    assert len(stored.request_id) == 32  # a fresh uuid per request


async def test_a_group_picture_comes_annotated_when_asked(make_service, serve: Serve):
    client = await serve(make_service(user_rate="1000/1"))
    reply = await whois(client, group_picture(), "?annotate=1")
    assert [f["number"] for f in reply["faces"]] == [1, 2, 3]
    annotated = Image.open(io.BytesIO(base64.b64decode(reply["annotated_png"])))
    assert (annotated.format, annotated.size) == ("PNG", (reply["width"], reply["height"]))
    assert "annotated_png" not in await whois(client, group_picture())


async def test_corrections_and_confirmations_are_stored(make_service, serve: Serve):
    service = make_service(user_rate="1000/1")
    client = await serve(service)
    first, second, _ = (await whois(client, group_picture()))["faces"]
    status, ack = await answer(
        await client.post(f"/api/v1/faces/{first['id']}/corrections", json={"label": "  shana "})
    )
    assert status == 201
    assert (ack["face_id"], ack["label"], ack["name"], ack["known"]) == (first["id"], "008_shana", "Shana", True)
    assert ack["text"] == "Thanks! Saved: this is Shana."
    status, confirmed = await answer(await client.post(f"/api/v1/faces/{second['id']}/confirmations"))
    assert status == 201 and confirmed["label"] == second["label"]
    assert confirmed["text"] == f"Thanks! Noted that this is {second['name']}."
    stored = {(r.id, r.face_id, r.kind, r.label, r.platform, r.user_id) for r in service.store.feedback()}
    assert stored == {
        (ack["id"], first["id"], "correction", "008_shana", "http", "127.0.0.1"),
        (confirmed["id"], second["id"], "confirmation", second["label"], "http", "127.0.0.1"),
    }


async def test_browsers_sharing_an_address_keep_their_own_corrections(
    make_service, serve: Serve, known_picture: tuple[bytes, str]
):
    service = make_service(user_rate="1000/1")
    client = await serve(service)
    face_id = (await whois(client, known_picture[0]))["faces"][0]["id"]
    path = f"/api/v1/faces/{face_id}/corrections"
    for user, label in (("a1", "Shana"), ("b2", "Konata"), ("a1", "Reimu")):  # a1 changes its mind
        assert (await client.post(path, json={"label": label, "user": user})).status == 201
    stored = {(r.user_id, r.label) for r in service.store.feedback()}
    assert stored == {("127.0.0.1/a1", "009_hakurei_reimu"), ("127.0.0.1/b2", "010_izumi_konata")}


async def test_characters_for_the_pages_suggestions(make_service, serve: Serve):
    service = make_service()
    client = await serve(service)
    status, rows = await answer(await client.get("/api/v1/characters"))
    assert status == 200
    labels = {row["label"]: row for row in rows}
    assert len(labels) == len(service.recognizer.manifest.labels)
    assert labels["000_hatsune_miku"]["name"] == "Hatsune Miku" and labels["000_hatsune_miku"]["in_bundle"]


# --- bad input: a JSON error a person understands, and nothing stored --------------------------------

NOT_AN_IMAGE = "not an image"
HOW_TO_SEND = 'form field "image"'


@pytest.mark.parametrize(
    "method, path, request_kwargs, status, message",
    [
        ("post", "/api/v1/whois", {"data": upload(b"hello, this is text", filename="notes.txt")}, 400, NOT_AN_IMAGE),
        ("post", "/api/v1/whois", {"data": upload(b"")}, 400, "empty"),
        ("post", "/api/v1/whois", {"data": upload(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)}, 400, "PNG"),
        ("post", "/api/v1/whois", {"data": upload(b"\x89PNG", field="picture")}, 400, HOW_TO_SEND),
        ("post", "/api/v1/whois", {"data": b"\x89PNG", "headers": {"Content-Type": "image/png"}}, 400, HOW_TO_SEND),
        ("post", "/api/v1/whois", {"json": {"link": "https://example.com/a.png"}}, 400, HOW_TO_SEND),
        (
            "post",
            "/api/v1/whois",
            {"data": b'{"url": ', "headers": {"Content-Type": "application/json"}},
            400,
            "not valid JSON",
        ),
        ("post", "/api/v1/whois", {"json": {"url": "http://127.0.0.1:9/x.png"}}, 400, "private or local address"),
        ("post", "/api/v1/whois", {"json": {"url": "file:///etc/passwd"}}, 400, "only http(s)"),
        ("get", "/api/v1/whois", {}, 405, "method not allowed"),
        ("post", "/api/v1/faces/424242/corrections", {"json": {"label": "miku"}}, 404, "there is no face 424242"),
        ("post", "/api/v1/faces/abc/corrections", {"json": {"label": "miku"}}, 404, "there is no face abc"),
        ("post", "/api/v1/faces/99999999999999999999/corrections", {"json": {"label": "miku"}}, 404, "no face"),
        ("post", "/api/v1/faces/{face}/corrections", {"json": {"label": ""}}, 400, "tell me the character's name"),
        (
            "post",
            "/api/v1/faces/{face}/corrections",
            {"json": {"label": "x" * 5000}},
            400,
            "that name is too long (5000 characters; at most 100)",
        ),
        ("post", "/api/v1/faces/{face}/corrections", {"data": b"{label: miku}"}, 400, "not valid JSON"),
        ("post", "/api/v1/faces/{face}/corrections", {"data": b"\xff\xfe\x00"}, 400, "not valid JSON"),
        ("post", "/api/v1/faces/{face}/corrections", {"json": ["miku"]}, 400, "a JSON object"),
        ("post", "/api/v1/faces/{face}/corrections", {"json": {}}, 400, '{"label": "..."}'),
        ("post", "/api/v1/faces/{face}/corrections", {"json": {"label": 39}}, 400, '{"label": "..."}'),
        ("post", "/api/v1/faces/{face}/corrections", {"json": {"label": "miku", "user": "x" * 17}}, 400, '"user"'),
        ("post", "/api/v1/faces/424242/confirmations", {}, 404, "there is no face 424242"),
        ("post", "/api/v1/faces/-1/confirmations", {}, 404, "there is no face -1"),
        ("post", "/api/v1/faces/{face}/confirmations", {"data": b"{"}, 400, "not valid JSON"),
        ("post", "/api/v1/corrections/1/review", {"json": {"status": "accepted"}}, 403, "disabled"),
        ("get", "/api/v1/nothing-here", {}, 404, "not found"),
    ],
)
async def test_bad_input_is_a_json_error_and_changes_nothing(
    make_service,
    serve: Serve,
    known_picture: tuple[bytes, str],
    method: str,
    path: str,
    request_kwargs: dict,
    status: int,
    message: str,
):
    service = make_service(user_rate="1000/1")
    client = await serve(service)
    face_id = (await whois(client, known_picture[0]))["faces"][0]["id"]
    before = counts(service)
    response = await getattr(client, method)(path.format(face=face_id), **request_kwargs)
    got, body = await answer(response)
    assert (got, list(body)) == (status, ["error"]) and message in body["error"], body
    assert counts(service) == before


async def test_the_body_limit_is_the_picture_limit_and_some_room(
    make_service, serve: Serve, known_picture: tuple[bytes, str]
):
    service = make_service(max_picture_mb=2, user_rate="1000/1")
    client = await serve(service)
    padded = known_picture[0] + b"\x00" * (2_500_000 - len(known_picture[0]))
    # the part is counted as it arrives: refused as soon as it passes the limit
    status, body = await answer(await client.post("/api/v1/whois", data=upload(padded)))
    assert (status, body) == (413, {"error": "that is too large: a picture may be at most 2 MB"})
    status, body = await answer(await client.post("/api/v1/whois", data=upload(padded * 2)))
    assert (status, body) == (413, {"error": "that is too large: a picture may be at most 2 MB"})
    long_link = {"url": "https://example.com/" + "a" * 4 * 2**20}
    assert (await client.post("/api/v1/whois", json=long_link)).status == 413
    assert counts(service) == (0, 0, 0)


async def test_too_many_pictures_from_one_client_are_rate_limited(
    make_service, serve: Serve, known_picture: tuple[bytes, str]
):
    service = make_service(user_rate="2/60")
    client = await serve(service)
    for _ in range(2):
        await whois(client, known_picture[0])
    response = await client.post("/api/v1/whois", data=upload(known_picture[0]))
    status, body = await answer(response)
    assert status == 429 and body["error"].startswith("slow down a little: try again in")
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert counts(service)[0] == 2


async def test_unexpected_failures_are_a_logged_internal_error(
    make_service, serve: Serve, caplog: pytest.LogCaptureFixture
):
    service = make_service()
    client = await serve(service)

    def broken() -> list:
        raise RuntimeError("database on fire")

    service.store.characters = broken
    with caplog.at_level(logging.ERROR, logger="darekana.bot.http.api"):
        status, body = await answer(await client.get("/api/v1/characters"))
    incident = re.fullmatch(r"internal error \(incident ([0-9a-f]{12})\)", body["error"])
    assert status == 500 and incident, body
    # the traceback is logged under the incident id, and nothing of it is shown to the client
    assert "database on fire" in caplog.text and incident[1] in caplog.text and "fire" not in body["error"]


# --- hostile bodies: every one a JSON 4xx, nothing stored ------------------------------------------------

PART = b'--XX\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
MALFORMED = {  # name: (content type, body, status)
    "no boundary": ("multipart/form-data", b"--XX\r\n\r\n", 400),
    "mismatched boundary": (
        None,
        b'--YY\r\nContent-Disposition: form-data; name="image"\r\n\r\nabc\r\n--YY--\r\n',
        400,
    ),
    "empty body": (None, b"", 400),
    "over-long boundary": ("multipart/form-data; boundary=" + "B" * 5000, b"--" + b"B" * 5000 + b"\r\n\r\n", 400),
    "nameless part": (None, b"--XX\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--XX--\r\n", 400),
    "nested parts": (
        None,
        b'--XX\r\nContent-Disposition: form-data; name="image"\r\n'
        b"Content-Type: multipart/mixed; boundary=YY\r\n\r\n--YY\r\n\r\nx\r\n--YY--\r\n--XX--\r\n",
        400,
    ),
    "bad base64": (None, PART + b"Content-Transfer-Encoding: base64\r\n\r\n!!!!\r\n--XX--\r\n", 400),
    "unknown transfer encoding": (None, PART + b"Content-Transfer-Encoding: rot13\r\n\r\nabc\r\n--XX--\r\n", 400),
    "gzip part": (None, PART + b"Content-Encoding: gzip\r\n\r\nabc\r\n--XX--\r\n", 400),
    "huge part header": (None, PART + b"X-Big: " + b"a" * 200_000 + b"\r\n\r\nabc\r\n--XX--\r\n", 400),
    "NUL and CR in a filename": (
        None,
        b'--XX\r\nContent-Disposition: form-data; name="image"; filename="a\x00\r.png"\r\n\r\nabc\r\n--XX--\r\n',
        400,
    ),
    "a thousand fields": (
        None,
        b"".join(b'--XX\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i for i in range(1000))
        + b"--XX--\r\n",
        400,
    ),
    "deep JSON": ("application/json", b"[" * 60_000, 400),
    "long JSON": ("application/json", b"[" * 100_000, 413),
    "JSON that is not UTF-8": ("application/json", b"\xff\xfe{}", 400),
}


async def raw_request(
    port: int, head: bytes, body: bytes = b"", timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    """A request written byte by byte (clients refuse to send most of these); the status, headers, body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body)
    await writer.drain()
    status = int((await asyncio.wait_for(reader.readline(), timeout)).split()[1])
    headers = {}
    while (line := await asyncio.wait_for(reader.readline(), timeout)) != b"\r\n":
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    data = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", 0))), timeout)
    writer.close()
    return status, headers, data


def post_head(path: str, content_type: str | None, length: int, extra: str = "") -> bytes:
    kind = f"Content-Type: {content_type}\r\n" if content_type else ""
    return f"POST {path} HTTP/1.1\r\nHost: x\r\n{kind}Content-Length: {length}\r\n{extra}\r\n".encode("latin-1")


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_bodies_are_json_errors_and_change_nothing(make_service, serve: Serve, case: str):
    service = make_service(user_rate="1000/1")
    client = await serve(service)
    content_type, body, expected = MALFORMED[case]
    head = post_head("/api/v1/whois", content_type or "multipart/form-data; boundary=XX", len(body))
    status, headers, data = await raw_request(client.port, head, body)
    assert status == expected and headers["content-type"].startswith("application/json"), (status, data[:200])
    assert json.loads(data)["error"] and "Traceback" not in data.decode()
    assert counts(service) == (0, 0, 0)


async def test_a_body_declared_too_large_is_refused_before_it_is_read(make_service, serve: Serve):
    client = await serve(make_service())
    started = asyncio.get_running_loop().time()
    status, headers, data = await raw_request(client.port, post_head("/api/v1/whois", "image/png", 10**12), b"x")
    assert status == 413 and json.loads(data)["error"].startswith("that is too large")
    assert asyncio.get_running_loop().time() - started < 2


async def test_a_body_that_never_arrives_times_out(make_service, serve: Serve, known_picture: tuple[bytes, str]):
    service = make_service(body_timeout_s=1.0)
    client = await serve(service)
    form = PART + b"\r\n" + known_picture[0][:100]  # and then nothing more
    head = post_head("/api/v1/whois", "multipart/form-data; boundary=XX", len(form) + 5000)
    status, _, data = await raw_request(client.port, head, form, timeout=5)
    assert status == 408 and "took more than 1 s" in json.loads(data)["error"]
    assert counts(service) == (0, 0, 0)


async def test_a_base64_part_is_read_like_the_file(make_service, serve: Serve, known_picture: tuple[bytes, str]):
    client = await serve(make_service(user_rate="1000/1"))
    encoded = base64.encodebytes(known_picture[0])
    body = PART + b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"\r\n--XX--\r\n"
    status, _, data = await raw_request(
        client.port,
        post_head("/api/v1/whois", None, len(body), "Content-Type: multipart/form-data; boundary=XX\r\n"),
        body,
    )
    assert status == 200 and json.loads(data)["faces"][0]["label"] == known_picture[1]


async def test_a_token_that_is_not_utf8_is_refused(make_service, serve: Serve):
    client = await serve(make_service(moderator_token=TOKEN))
    head = b"GET /api/v1/corrections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xe9\xff\xfe\r\n\r\n"
    status, _, data = await raw_request(client.port, head)
    assert (status, json.loads(data)) == (403, {"error": "wrong moderator token"})


# --- moderators --------------------------------------------------------------------------------------


async def test_moderators_review_and_export_corrections(make_service, serve: Serve):
    service = make_service(user_rate="1000/1", moderator_token=TOKEN)
    client = await serve(service)
    faces = (await whois(client, group_picture()))["faces"]
    corrected = await (await client.post(f"/api/v1/faces/{faces[0]['id']}/corrections", json={"label": "Shana"})).json()
    confirmed = await (await client.post(f"/api/v1/faces/{faces[2]['id']}/confirmations")).json()
    rejected = await (await client.post(f"/api/v1/faces/{faces[1]['id']}/corrections", json={"label": "Rem"})).json()

    status, pending = await answer(await client.get("/api/v1/corrections?status=pending", headers=MODERATOR))
    assert status == 200
    assert [(r["id"], r["predicted_label"], r["status"]) for r in pending] == [
        (corrected["id"], faces[0]["label"], "pending"),
        (confirmed["id"], faces[2]["label"], "pending"),
        (rejected["id"], faces[1]["label"], "pending"),
    ]
    for ack, verdict in ((corrected, "accepted"), (confirmed, "accepted"), (rejected, "rejected")):
        status, body = await answer(
            await client.post(f"/api/v1/corrections/{ack['id']}/review", json={"status": verdict}, headers=MODERATOR)
        )
        assert (status, body) == (200, {"id": ack["id"], "status": verdict})
    assert await answer(
        await client.post(f"/api/v1/corrections/{rejected['id']}/review", json={"status": "maybe"}, headers=MODERATOR)
    ) == (400, {"error": "a review is one of pending, accepted, rejected"})
    assert [r.reviewer for r in service.store.feedback(("accepted", "rejected"))] == ["http:moderator@127.0.0.1"] * 3

    status, stats = await answer(await client.get("/api/v1/corrections/stats", headers=MODERATOR))
    assert status == 200
    assert stats["by_status"] == {"pending": 0, "accepted": 2, "rejected": 1} and stats["recognitions"] == 1

    response = await client.get("/api/v1/corrections/export", headers=MODERATOR)
    assert response.status == 200 and response.content_type == "application/zip"
    assert response.headers["Content-Disposition"] == 'attachment; filename="darekana-corrections-accepted.zip"'
    archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    folders = sorted(name.split("/")[0] for name in archive.namelist() if name != "manifest.csv")
    assert folders == sorted(["008_shana", faces[2]["label"]])  # one folder per label; rejected left out
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert sorted(row["path"] for row in manifest) == sorted(n for n in archive.namelist() if n != "manifest.csv")

    response = await client.get("/api/v1/corrections/export?status=accepted,rejected", headers=MODERATOR)
    assert len(zipfile.ZipFile(io.BytesIO(await response.read())).namelist()) == 4
    assert await answer(await client.get("/api/v1/corrections/export?status=everything", headers=MODERATOR)) == (
        400,
        {"error": "export statuses are among pending, accepted, rejected"},
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/corrections/export",
        "/api/v1/corrections?status=pending",
        "/api/v1/corrections/stats",
        "/api/v1/corrections/groups",
    ],
)
@pytest.mark.parametrize(
    "token, headers, status, message",
    [
        (TOKEN, {}, 401, "moderators only: send Authorization: Bearer <moderator token>"),
        (
            TOKEN,
            {"Authorization": "Basic czNjcmV0"},
            401,
            "moderators only: send Authorization: Bearer <moderator token>",
        ),
        (TOKEN, {"Authorization": f"Bearer {TOKEN}x"}, 403, "wrong moderator token"),
        (TOKEN, {"Authorization": "Bearer"}, 401, "moderators only: send Authorization: Bearer <moderator token>"),
        ("", {"Authorization": "Bearer "}, 403, "moderator endpoints are disabled"),
        ("", MODERATOR, 403, "moderator endpoints are disabled"),
    ],
)
async def test_moderator_endpoints_need_the_token(
    make_service, serve: Serve, path: str, token: str, headers: dict, status: int, message: str
):
    client = await serve(make_service(moderator_token=token))
    response = await client.get(path, headers=headers)
    assert await answer(response) == (status, {"error": message})
    assert ("WWW-Authenticate" in response.headers) == (status == 401)


async def test_moderators_see_unknown_faces_grouped_and_enroll_by_group(make_service, serve: Serve):
    """The listing over HTTP (the grouping and enrolling themselves: tests/bot/test_groups.py)."""
    service = make_service(user_rate="1000/1", feedback_rate="1000/1", channel_rate="1000/1", moderator_token=TOKEN)
    client = await serve(service)
    for i, path in enumerate(sorted((DATASETS / "hololive-20" / "gawr_gura").iterdir())[:5]):
        face = (await whois(client, path.read_bytes()))["faces"][0]
        body = {"label": "Gawr Gura", "user": f"person{i % 2}"}
        assert (await client.post(f"/api/v1/faces/{face['id']}/corrections", json=body)).status == 201
    status, groups = await answer(await client.get("/api/v1/corrections/groups?limit=3", headers=MODERATOR))
    assert status == 200 and 1 <= len(groups) <= 3
    biggest = groups[0]
    assert biggest["names"][0]["name"] == "Gawr Gura" and biggest["faces"] == len(biggest["face_ids"]) >= 2
    # the address that sent the pictures, and the two browsers that named them
    assert biggest["people"] == 3 and biggest["samples"][0].startswith("data:image/jpeg;base64,")
    enroll = f"/api/v1/corrections/groups/{biggest['id']}/enroll"
    assert await answer(await client.post(enroll, json={}, headers=MODERATOR)) == (
        400,
        {"error": 'send the character\'s name as JSON {"name": "..."}'},
    )
    # this service answers with a bundle directory, not a link: nothing to promote to, said so
    status, body = await answer(await client.post(enroll, json={"name": "Gawr Gura"}, headers=MODERATOR))
    assert status == 409 and "not a link" in body["error"]
    assert (await client.post(enroll, json={"name": "Gawr Gura"})).status == 401


async def test_a_review_without_the_token_changes_nothing(make_service, serve: Serve, known_picture: tuple[bytes, str]):
    service = make_service(moderator_token=TOKEN)
    client = await serve(service)
    face_id = (await whois(client, known_picture[0]))["faces"][0]["id"]
    ack = await (await client.post(f"/api/v1/faces/{face_id}/corrections", json={"label": "Shana"})).json()
    response = await client.post(
        f"/api/v1/corrections/{ack['id']}/review",
        json={"status": "accepted"},
        headers={"Authorization": "Bearer guess"},
    )
    assert await answer(response) == (403, {"error": "wrong moderator token"})
    assert [r.status for r in service.store.feedback(("pending", "accepted"))] == ["pending"]


# --- operations and the page -------------------------------------------------------------------------


async def test_health_and_metrics(make_service, serve: Serve, known_picture: tuple[bytes, str]):
    service = make_service(user_rate="1000/1")
    client = await serve(service)
    assert await answer(await client.get("/healthz")) == (200, {"status": "ok", "bundle": service.recognizer.version})
    await whois(client, known_picture[0])
    await client.post("/api/v1/whois", data=upload(b"nope"))
    response = await client.get("/metrics")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    assert 'darekana_requests_total{outcome="ok",platform="http"} 1.0' in text
    assert 'darekana_requests_total{outcome="bad_request",platform="http"} 1.0' in text


async def test_the_page_and_its_files_are_served(make_service, serve: Serve):
    client = await serve(make_service())
    response = await client.get("/")
    assert response.status == 200 and response.content_type == "text/html"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    html = await response.text()
    assert 'id="file"' in html and "<canvas" in html
    for path in ("/static/page.js", "/static/page.css"):
        assert (await client.get(path)).status == 200
    assert await answer(await client.get("/static/../http_api.py")) == (404, {"error": "not found"})


# --- properties: any body is read or refused with a JSON error ---------------------------------------------


async def _echo_bodies(request: web.Request) -> web.Response:
    """The body readers alone, on a real socket: the size of the picture read, or the error."""
    try:
        if request.path == "/json":
            return web.json_response({"keys": len(await read_json(request, 5))})
        return web.json_response({"bytes": len(await read_picture(request, "image", 10_000, 5, "how"))})
    except ServiceError as exc:
        return web.json_response({"error": exc.message}, status=exc.status)


def _send(path: str, content_type: str, body: bytes) -> tuple[int, dict]:
    async def run() -> tuple[int, dict]:
        app = web.Application()
        app.router.add_post("/{kind}", _echo_bodies)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            head = post_head(path, content_type, len(body))
            status, headers, data = await raw_request(server.port, head, body, timeout=10)
        finally:
            await server.close()
        assert headers["content-type"].startswith("application/json"), (status, data[:200])
        return status, json.loads(data)

    return asyncio.run(run())


FORM_PIECES = [
    b"--XX",
    b"--XX--",
    b"\r\n",
    b'Content-Disposition: form-data; name="image"; filename="a"',
    b'Content-Disposition: form-data; name="other"',
    b"Content-Transfer-Encoding: base64",
    b"Content-Type: multipart/mixed; boundary=YY",
    b"--YY",
    b"aGVsbG8=",
    b"\x00\xff",
    b"hello",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(FORM_PIECES), st.binary(max_size=40)), max_size=30))
def test_any_form_body_is_read_or_refused_as_json(pieces: list[bytes]):
    status, body = _send("/form", "multipart/form-data; boundary=XX", b"".join(pieces))
    assert (status == 200 and 0 <= body["bytes"] <= 10_000) or (status in (400, 408, 413) and body["error"])


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.integers() | st.text(max_size=10),
            lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
            max_leaves=20,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_any_json_body_is_read_or_refused_as_json(data: bytes):
    status, body = _send("/json", "application/json", data)
    assert (status == 200 and body["keys"] >= 0) or (status == 400 and body["error"])


# --- privacy: delete tokens, what is kept, operators ---------------------------------------------------


async def test_http_delete_with_a_wrong_token_deletes_nothing(make_service, serve: Serve, known_picture):
    service = make_service(user_rate="1000/1")
    client = await serve(service)
    mine = await whois(client, group_picture())
    other = await whois(client, known_picture[0])
    token = mine["delete_token"]
    assert len(token) >= 32 and other["delete_token"] != token
    path = f"/api/v1/recognitions/{mine['recognition_id']}"
    before = counts(service)
    for headers, refused in [
        ({}, 403),
        ({"Authorization": "Bearer "}, 403),
        ({"Authorization": f"Basic {token}"}, 403),
        ({"Authorization": "Bearer wrong"}, 404),
        ({"Authorization": f"Bearer {other['delete_token']}"}, 404),
        ({"Authorization": f"Bearer {TOKEN}"}, 404),  # not even the moderator token
    ]:
        status, body = await answer(await client.delete(path, headers=headers))
        assert (status, set(body)) == (refused, {"error"}), headers
    for elsewhere in (f"/api/v1/recognitions/{other['recognition_id']}", "/api/v1/recognitions/99999999999"):
        status, _ = await answer(await client.delete(elsewhere, headers={"Authorization": f"Bearer {token}"}))
        assert status == 404
    assert counts(service) == before

    status, body = await answer(await client.delete(path, headers={"Authorization": f"Bearer {token}"}))
    assert (status, body) == (200, {"deleted": {"recognitions": 1, "faces": 3, "corrections": 0}})
    assert counts(service) == (before[0] - 1, before[1] - 3, before[2])
    status, _ = await answer(await client.delete(path, headers={"Authorization": f"Bearer {token}"}))
    assert status == 404


async def test_privacy_endpoint_and_page_say_the_real_retention_days(make_service, serve: Serve):
    client = await serve(make_service(retention_days=9, guild_grace_days=2))
    status, body = await answer(await client.get("/api/v1/privacy"))
    assert status == 200 and (body["retention_days"], body["guild_grace_days"]) == (9, 2)
    assert "deleted after 9 days" in body["text"] and "after 2 days, unless I am back" in body["text"]
    page = await (await client.get("/")).text()
    assert 'id="privacy"' in page and 'id="forget"' in page


async def test_the_operator_token_sees_every_server_and_nsfw_faces_only_when_asked(
    make_service, serve: Serve, known_picture
):
    service = make_service(user_rate="1000/1", moderator_token=TOKEN)
    seen = {}
    for name, where in {"a": Place("111", "1"), "b": Place("222", "2"), "nsfw": Place("111", "9", nsfw=True)}.items():
        who = Requester("discord", name)
        reply = await service.whois(known_picture[0], who, where)
        await service.correct(reply.face_ids[0], "Shana", who, where)
        seen[name] = reply.face_ids[0]
    client = await serve(service)

    async def listed(query: str = "") -> set[int]:
        status, rows = await answer(await client.get(f"/api/v1/corrections{query}", headers=MODERATOR))
        assert status == 200, rows
        return {row["face_id"] for row in rows}

    assert await listed() == {seen["a"], seen["b"]}  # every server's, not the age-restricted channel's
    assert await listed("?include_nsfw=1") == set(seen.values())
    status, body = await answer(await client.get("/api/v1/corrections?include_nsfw=yes", headers=MODERATOR))
    assert status == 400 and "include_nsfw is 0 or 1" in body["error"]
    for query, crops in (("?status=pending", "2"), ("?status=pending&include_nsfw=1", "3")):
        response = await client.get(f"/api/v1/corrections/export{query}", headers=MODERATOR)
        assert response.status == 200 and response.headers["X-Darekana-Crops"] == crops
    status, stats = await answer(await client.get("/api/v1/corrections/stats", headers=MODERATOR))
    assert stats["recognitions"] == 3  # counts show no face
