"""Reading request bodies from strangers: JSON objects and the one picture of a multipart form, within a
size, a part count and a time limit. Whatever a body holds, the caller gets the data or a
:class:`~darekana.bot.errors.ServiceError` whose message says what was wrong; aiohttp's own multipart
parser is used, but every way it can fail on bad framing becomes a 400.

A part's ``Content-Transfer-Encoding`` (base64, quoted-printable) is decoded here, within the limit;
a ``Content-Encoding`` (gzip and the like) is refused, so no part can inflate past the limit.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import quopri
from typing import Any

from aiohttp import BodyPartReader, web

from ..errors import BadRequest, RequestTimeout, ServiceError, TooLarge
from ..settings import MB

MAX_JSON = 64 * 1024  # names, links and reviews are short
MAX_PARTS = 8  # a form holds the picture and perhaps a field or two beside it
CHUNK = 64 * 1024
TRANSFER_ENCODINGS = ("", "binary", "7bit", "8bit", "base64", "quoted-printable")


async def read_json(request: web.Request, timeout_s: float) -> dict[str, Any]:
    """The body as a JSON object."""
    if (request.content_length or 0) > MAX_JSON:
        raise TooLarge(f"that is too large: a JSON body may be at most {MAX_JSON // 1024} KB")
    data = await _within(timeout_s, _read(request.content, MAX_JSON, "a JSON body", f"{MAX_JSON // 1024} KB"))
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):  # bad JSON or text, or nesting deeper than Python's stack
        raise BadRequest("that is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object")
    return body


async def read_picture(request: web.Request, field: str, limit: int, timeout_s: float, how: str) -> bytes:
    """The bytes of the form field ``field`` of a multipart body; ``how`` says how to send one."""
    return await _within(timeout_s, _picture(request, field, limit, how))


async def _picture(request: web.Request, field: str, limit: int, how: str) -> bytes:
    try:
        reader = await request.multipart()
        for _ in range(MAX_PARTS):
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise BadRequest("nested multipart parts are not read: " + how)
            if part.name == field:
                return await _part(part, limit)
            await _read(part, CHUNK, "a form field", f"{CHUNK // 1024} KB")  # read past it, within reason
        else:
            raise BadRequest(f"too many form fields (at most {MAX_PARTS}): " + how)
    except (ServiceError, web.HTTPException):
        raise
    except Exception as exc:  # aiohttp's parser fails on bad framing in many ways (ValueError, AssertionError...)
        raise BadRequest(f"that is not a multipart form I can read ({type(exc).__name__}): {how}") from None
    raise BadRequest(how)


async def _part(part: BodyPartReader, limit: int) -> bytes:
    if part.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        raise BadRequest("compressed form fields are not read: send the picture file as it is")
    encoding = part.headers.get("Content-Transfer-Encoding", "").strip().lower()
    if encoding not in TRANSFER_ENCODINGS:
        raise BadRequest(f"unknown Content-Transfer-Encoding {encoding[:40]!r}: send the picture file as it is")
    mb = f"{limit / MB:g} MB"
    # base64 takes 4 bytes for 3: the raw part may be that much larger than the picture
    raw = await _read(part, limit * 4 // 3 + 4 if encoding == "base64" else limit, "a picture", mb)
    try:
        data = (
            base64.b64decode(b"".join(raw.split()), validate=True)
            if encoding == "base64"
            else quopri.decodestring(raw)
            if encoding == "quoted-printable"
            else raw
        )
    except (binascii.Error, ValueError):
        raise BadRequest("that picture's base64 is broken") from None
    if len(data) > limit:
        raise TooLarge(f"that is too large: a picture may be at most {mb}")
    return data


async def _read(source: Any, limit: int, what: str, size: str) -> bytes:
    """Everything ``source`` (a request's content or a form part) holds, refused beyond ``limit`` bytes."""
    # BytesIO hands back its own buffer: a 17 MB upload costs 17 MB, not twice that as a join of chunks would
    body = io.BytesIO()
    while True:
        chunk = await (source.read_chunk(CHUNK) if isinstance(source, BodyPartReader) else source.read(CHUNK))
        if not chunk:
            return body.getvalue()
        if body.tell() + len(chunk) > limit:
            raise TooLarge(f"that is too large: {what} may be at most {size}")
        body.write(chunk)


async def _within(timeout_s: float, work: Any) -> Any:
    try:
        async with asyncio.timeout(timeout_s):
            return await work
    except TimeoutError:
        raise RequestTimeout(f"the request body took more than {timeout_s:g} s to arrive") from None
