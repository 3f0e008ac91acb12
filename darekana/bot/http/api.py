"""The HTTP API and the page at ``/``. Requests become :class:`darekana.bot.service.Service` calls and its replies
and errors become JSON; the behaviour itself lives in the service.

    POST /api/v1/whois                          multipart field "image", or JSON {"url": ...}; ?annotate=1
                                                (the answer carries a delete_token, shown once)
    DELETE /api/v1/recognitions/{id}            Authorization: Bearer <delete_token>: deletes it
    GET  /api/v1/privacy                        what is kept, for how long, who sees it
    POST /api/v1/faces/{id}/corrections         JSON {"label": "<character name>", "user": "<optional id>"}
    POST /api/v1/faces/{id}/confirmations       optional JSON {"user": "<optional id>"}
    GET  /api/v1/characters
    GET  /api/v1/corrections?status=pending     moderators: Authorization: Bearer <moderator token>
                                                (operators: every server's; &include_nsfw=1 for faces of
                                                age-restricted channels, here, on export and groups)
    POST /api/v1/corrections/{id}/review        moderators: JSON {"status": "accepted" | "rejected"}
    GET  /api/v1/corrections/stats              moderators
    GET  /api/v1/corrections/export?status=accepted,pending   moderators: a zip for ``darekana train fit``
    GET  /api/v1/corrections/groups?limit=10    moderators: unknown faces grouped, biggest first
    POST /api/v1/corrections/groups/{id}/enroll moderators: JSON {"name": "<character>"}: gated, then promoted
    GET  /healthz, /metrics, /api/v1/openapi.json (this API, described as OpenAPI 3.0)

Every error is ``{"error": "<message a person understands>"}`` with its HTTP status.
"""

from __future__ import annotations

import base64
import dataclasses
import hmac
import logging
import math
import re
import uuid
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from aiohttp import web

from darekana.recognizer.gallery import jpeg_data_url

from ..callers import Place, Requester
from ..errors import BadRequest, Forbidden, NotFound, RateLimited, ServiceError, Unauthorized
from ..groups import Group
from ..metrics import CONTENT_TYPE
from ..records import Authority, Feedback, Forgotten, Scope
from ..replies import Ack
from ..service import Service
from ..settings import MB, Settings
from .bodies import read_json, read_picture
from .openapi import spec

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")  # package data
MAX_ID = 2**31 - 1  # ids are 32-bit INTEGER columns: larger ones cannot exist, and PostgreSQL refuses them
MAX_LISTED = 500
HOW_TO_SEND = 'send a picture as the multipart form field "image", or JSON {"url": "https://..."}'
# A browser's own id (the page makes one): with the address, at most 64 characters, the stored column's size.
USER_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
HTTP_MESSAGES = {404: "not found", 405: "method not allowed"}
# The page loads nothing but its own files; a picture given by link is shown from that link.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' blob: data: http: https:; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

SERVICE = web.AppKey("service", Service)
SETTINGS = web.AppKey("settings", Settings)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(service: Service, settings: Settings) -> web.Application:
    # The body limit leaves room for the multipart framing around the largest picture the service takes.
    app = web.Application(client_max_size=settings.max_picture_bytes + MB, middlewares=[_errors])
    app[SERVICE], app[SETTINGS] = service, settings
    app.add_routes(
        [
            web.post("/api/v1/whois", whois),
            web.post("/api/v1/faces/{id}/corrections", correct),
            web.post("/api/v1/faces/{id}/confirmations", confirm),
            web.delete("/api/v1/recognitions/{id}", delete_recognition),
            web.get("/api/v1/privacy", privacy),
            web.get("/api/v1/characters", characters),
            web.get("/api/v1/corrections", corrections),
            web.get("/api/v1/corrections/stats", stats),
            web.get("/api/v1/corrections/export", export),
            web.post("/api/v1/corrections/{id}/review", review),
            web.get("/api/v1/corrections/groups", groups),
            web.post("/api/v1/corrections/groups/{id}/enroll", enroll_group),
            web.get("/api/v1/openapi.json", openapi),
            web.get("/healthz", healthz),
            web.get("/metrics", metrics),
            web.get("/", page),
            web.static("/static", STATIC),
        ]
    )
    return app


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure answers ``{"error": ...}``: the service's message, HTTP's own, or "internal error" with
    an incident id that the log has too. A body declared larger than any route takes is refused at once."""
    if (request.content_length or 0) > request.app[SETTINGS].max_picture_bytes + MB:
        return _too_large(request)
    try:
        return await handler(request)
    except ServiceError as exc:
        return _error(exc.status, exc.message, _error_headers(exc))
    except web.HTTPRequestEntityTooLarge:
        return _too_large(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, HTTP_MESSAGES.get(exc.status, exc.reason.lower()))
    except Exception:
        incident = uuid.uuid4().hex[:12]
        log.exception("%s %s failed (incident %s)", request.method, request.path, incident)
        return _error(500, f"internal error (incident {incident})")


def _too_large(request: web.Request) -> web.Response:
    # the body is not read: the connection closes rather than wait for what may never come
    mb = request.app[SETTINGS].max_picture_mb
    response = _error(413, f"that is too large: a picture may be at most {mb:g} MB")
    response.force_close()
    return response


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _error_headers(exc: ServiceError) -> dict[str, str] | None:
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(math.ceil(exc.retry_after))}
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    return None


# --- everyone ----------------------------------------------------------------------------------------


async def whois(request: web.Request) -> web.Response:
    service, client = request.app[SERVICE], _client(request)
    # Per-client rate limits: the client's address is its "channel".
    who, where = Requester("http", client), Place(channel_id=client, request_id=uuid.uuid4().hex)
    annotate = request.query.get("annotate") == "1"  # drawing costs ~45 ms: only for those who ask
    if request.content_type == "application/json":
        url = (await _json(request)).get("url")
        if not isinstance(url, str):
            raise BadRequest(HOW_TO_SEND)
        reply = await service.whois_url(url, who, where, annotate)
    elif request.content_type == "multipart/form-data":
        reply = await service.whois(await _upload(request), who, where, annotate)
    else:
        raise BadRequest(HOW_TO_SEND)
    body = reply.to_dict() | {"delete_token": reply.delete_token}
    if reply.annotated_png:
        body["annotated_png"] = base64.b64encode(reply.annotated_png).decode("ascii")
    return web.json_response(body)


async def correct(request: web.Request) -> web.Response:
    face_id = _id(request, "face")
    body = await _json(request)
    label = body.get("label")
    if not isinstance(label, str):
        raise BadRequest('send the character\'s name as JSON {"label": "..."}')
    ack = await request.app[SERVICE].correct(face_id, label, _person(request, body), Place(channel_id=_client(request)))
    return web.json_response(_ack(ack), status=201)


async def confirm(request: web.Request) -> web.Response:
    face_id = _id(request, "face")
    body = await _json(request) if request.body_exists else {}
    ack = await request.app[SERVICE].confirm(face_id, _person(request, body), Place(channel_id=_client(request)))
    return web.json_response(_ack(ack), status=201)


async def delete_recognition(request: web.Request) -> web.Response:
    """Deletes a recognition given the ``delete_token`` its answer carried; a wrong token or an unknown id is
    the same 404, so that neither can be told from the other."""
    recognition_id = _id(request, "recognition")
    token = _bearer(request)
    if token is None:
        raise Forbidden("send Authorization: Bearer <the delete_token of that answer>")
    deleted = await request.app[SERVICE].delete_recognition(recognition_id, token)
    return web.json_response(_forgotten(deleted))


async def privacy(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return web.json_response(
        {
            "text": request.app[SERVICE].privacy_text(),
            "retention_days": settings.retention_days,
            "guild_grace_days": settings.guild_grace_days,
        }
    )


async def characters(request: web.Request) -> web.Response:
    rows = await request.app[SERVICE].characters()
    return web.json_response(
        [{"label": c.label, "name": c.name, "aliases": c.aliases, "in_bundle": c.in_bundle} for c in rows]
    )


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(spec(version("darekana")))


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "bundle": request.app[SERVICE].recognizer.version})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[SERVICE].metrics.render(), headers={"Content-Type": CONTENT_TYPE})


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_POLICY})


# --- moderators --------------------------------------------------------------------------------------


async def corrections(request: web.Request) -> web.Response:
    scope = _scope(request, _moderator(request))
    rows = await request.app[SERVICE].feedback(_statuses(request, "pending"), _limit(request), scope)
    return web.json_response([_feedback(row) for row in rows])


async def review(request: web.Request) -> web.Response:
    reviewer = _moderator(request)
    correction_id = _id(request, "correction")
    status = await _text(request, "status", 'send the review as JSON {"status": "accepted"} or {"status": "rejected"}')
    await request.app[SERVICE].review(correction_id, status, reviewer, _scope(request, reviewer, nsfw=True))
    return web.json_response({"id": correction_id, "status": status})


async def stats(request: web.Request) -> web.Response:
    scope = _scope(request, _moderator(request))
    return web.json_response(dataclasses.asdict(await request.app[SERVICE].stats(scope)))


async def export(request: web.Request) -> web.Response:
    scope = _scope(request, _moderator(request))
    statuses = _statuses(request, "accepted")
    data, count = await request.app[SERVICE].export(statuses, scope, scope.nsfw)
    name = f"darekana-corrections-{'-'.join(statuses)}.zip"
    return web.Response(
        body=data,
        content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Darekana-Crops": str(count)},
    )


async def groups(request: web.Request) -> web.Response:
    scope = _scope(request, _moderator(request))
    found = await request.app[SERVICE].groups(_limit(request, default=10), scope)
    return web.json_response([_group(g) for g in found])


async def enroll_group(request: web.Request) -> web.Response:
    moderator = _moderator(request)
    group_id = _id(request, "group")
    name = await _text(request, "name", 'send the character\'s name as JSON {"name": "..."}')
    enrolled = await request.app[SERVICE].enroll_group(group_id, name, moderator, _scope(request, moderator))
    return web.json_response(dataclasses.asdict(enrolled) | {"text": enrolled.text})


def _moderator(request: web.Request) -> Requester:
    """Whoever holds the moderator token: the bot's operators."""
    token = request.app[SETTINGS].moderator_token
    if not token:
        raise Forbidden("moderator endpoints are disabled")
    given = _bearer(request)
    if given is None:
        raise Unauthorized("moderators only: send Authorization: Bearer <moderator token>")
    # Constant time, so the token cannot be guessed byte by byte from response times.
    # surrogateescape: header bytes that are not UTF-8 compare as the bytes they were, never raise
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode()):
        raise Forbidden("wrong moderator token")
    return Requester("http", f"moderator@{_client(request)}")


def _bearer(request: web.Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``, None without one."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" and given.strip() else None


def _scope(request: web.Request, moderator: Requester, nsfw: bool | None = None) -> Scope:
    """The moderator token is operator authority: every server's data; faces of age-restricted channels
    only with ``include_nsfw=1`` (a review acts on what its id names, shown or not)."""
    wanted = _flag(request, "include_nsfw") if nsfw is None else nsfw
    return request.app[SERVICE].scope(moderator, Place(), Authority.OPERATOR, wanted)


# --- reading requests, shaping answers ---------------------------------------------------------------


def _client(request: web.Request) -> str:
    return request.remote or "unknown"


def _person(request: web.Request, body: dict[str, Any]) -> Requester:
    """Who gives feedback: the client's address, plus the id its browser sent if any, so that people
    behind one address (a NAT, a proxy) each keep their own answer instead of replacing each other's."""
    user = body.get("user")
    if user is None:
        return Requester("http", _client(request))
    if not isinstance(user, str) or not USER_ID.fullmatch(user):
        raise BadRequest('"user" is an id of at most 16 letters, digits, "-" or "_"')
    return Requester("http", f"{_client(request)}/{user}")


def _id(request: web.Request, what: str) -> int:
    raw = request.match_info["id"]
    if not _number(raw) or int(raw) > MAX_ID:
        raise NotFound(f"there is no {what} {raw}")
    return int(raw)


def _number(text: str) -> bool:
    return text.isascii() and text.isdecimal()  # int() would also read other scripts' digits


async def _json(request: web.Request) -> dict[str, Any]:
    return await read_json(request, request.app[SETTINGS].body_timeout_s)


async def _text(request: web.Request, key: str, how: str) -> str:
    """The string ``key`` of a JSON body; BadRequest saying ``how`` to send it otherwise."""
    value = (await _json(request)).get(key)
    if not isinstance(value, str):
        raise BadRequest(how)
    return value


async def _upload(request: web.Request) -> bytes:
    settings = request.app[SETTINGS]
    return await read_picture(request, "image", settings.max_picture_bytes, settings.body_timeout_s, HOW_TO_SEND)


def _statuses(request: web.Request, default: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in request.query.get("status", default).split(",") if s.strip())


def _flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "0")
    if raw not in ("0", "1"):
        raise BadRequest(f"{name} is 0 or 1")
    return raw == "1"


def _limit(request: web.Request, default: int = 100) -> int:
    raw = request.query.get("limit", str(default))
    if not _number(raw) or not 1 <= int(raw) <= MAX_LISTED:
        raise BadRequest(f"limit is a number from 1 to {MAX_LISTED}")
    return int(raw)


def _forgotten(deleted: Forgotten) -> dict[str, Any]:
    counts = {"recognitions": deleted.recognitions, "faces": deleted.faces, "corrections": deleted.corrections}
    return {"deleted": counts}


def _ack(ack: Ack) -> dict[str, Any]:
    return dataclasses.asdict(ack) | {"text": ack.text}


def _group(group: Group) -> dict[str, Any]:
    looks_like = dataclasses.asdict(group.looks_like) if group.looks_like is not None else None
    return {
        "id": group.id,
        "faces": len(group.faces),
        "face_ids": [f.face_id for f in group.faces],
        "people": group.people,
        "pictures": group.pictures,
        "names": [{"label": label, "name": name, "count": n} for label, name, n in group.names()],
        "looks_like": looks_like,
        "samples": [jpeg_data_url(jpeg) for jpeg in group.samples],
    }


def _feedback(row: Feedback) -> dict[str, Any]:
    fields = {f.name: getattr(row, f.name) for f in dataclasses.fields(row) if f.name != "crop_png"}
    return fields | {"created_at": row.created_at.isoformat()}
