"""A stand-in for X's API v2 on 127.0.0.1, so that tests run tweepy's own async client end to end.

tweepy builds every URL on ``https://api.twitter.com``; :meth:`FakeX.session` gives the aiohttp-like
session to put in ``client.session``, which sends each request to the fake instead, path and query as
tweepy built (and signed) them. The fake answers ``GET /2/users/me``, ``GET /2/users/:id/mentions``
(``since_id``, pages with ``next_token``, ``includes.media`` and ``includes.tweets`` from the expansions)
and ``POST /2/tweets``, serves photos like X's media host, and records every call. Tests script failures
with :meth:`FakeX.fail_next`: 429 with reset headers, 5xx, a body that is not JSON.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

API = "https://api.twitter.com"
BOT_ID = "1500000000000000001"
BOT_NAME = "darekana"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    auth: str  # the Authorization scheme: "OAuth" (user context) or "Bearer" (app-only)
    at: float  # time.time() when it arrived


@dataclass
class Scripted:
    """A response given instead of the real one to the next matching call."""

    method: str
    path_end: str
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class ToFake:
    """What tweepy needs of an aiohttp session (``request``), sending it to the fake."""

    def __init__(self, session: aiohttp.ClientSession, base: str):
        self._session, self._base = session, base

    def request(self, method: str, url: str | URL, **kwargs: Any) -> Any:
        # encoded=True: a signed URL's query must reach the server exactly as it was signed
        return self._session.request(method, URL(str(url).replace(API, self._base, 1), encoded=True), **kwargs)

    async def close(self) -> None:
        await self._session.close()


class FakeX:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.posts: dict[str, dict] = {}  # every post the fake knows, by id
        self.media: dict[str, dict] = {}  # media_key → {"media_key", "type", "url"}
        self.files: dict[str, bytes] = {}  # media host path → PNG bytes
        self.mention_ids: list[str] = []
        self.created: list[str] = []  # ids of the posts made through the API, oldest first
        self.scripted: list[Scripted] = []
        self.ignore_since_id = False  # deliver old mentions again, as a misbehaving API might
        self._ids = itertools.count(1860000000000000001)
        self._keys = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def session(self) -> ToFake:
        return ToFake(aiohttp.ClientSession(), self.base)

    # --- what tests set up and read ----------------------------------------------------------------------

    def photo(self, data: bytes, kind: str = "photo") -> str:
        """A media key for ``data`` served as a PNG (``kind``: photo, video, animated_gif)."""
        key = f"3_{next(self._keys)}"
        path = f"/media/{key}.png"
        self.files[path] = data
        self.media[key] = {"media_key": key, "type": kind, **({"url": self.base + path} if kind == "photo" else {})}
        return key

    def post(
        self,
        text: str,
        author: str = "2000",
        media: tuple[str, ...] = (),
        replied_to: str | None = None,
        quoted: str | None = None,
        mention: bool = True,
    ) -> str:
        """Adds a post; with ``mention`` it appears in the bot's mentions. Returns its id."""
        post_id = str(next(self._ids))
        post: dict[str, Any] = {
            "id": post_id,
            "text": text,
            "author_id": author,
            "edit_history_tweet_ids": [post_id],
            "conversation_id": self.posts[replied_to]["conversation_id"] if replied_to else post_id,
        }
        if media:
            post["attachments"] = {"media_keys": list(media)}
        references = [
            {"type": kind, "id": ref} for kind, ref in (("replied_to", replied_to), ("quoted", quoted)) if ref
        ]
        if references:
            post["referenced_tweets"] = references
        self.posts[post_id] = post
        if mention:
            self.mention_ids.append(post_id)
        return post_id

    def fail_next(
        self, method: str, path_end: str, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        """The next ``method`` call whose path ends with ``path_end`` gets this answer (a str body as is)."""
        text = body if isinstance(body, str) else json.dumps(body or {"title": "error", "status": status})
        self.scripted.append(Scripted(method, path_end, status, text, headers or {}))

    def find(self, method: str, path_end: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.endswith(path_end)]

    @property
    def replies(self) -> list[dict]:
        """The posts the bot made, oldest first."""
        return [self.posts[i] for i in self.created]

    # --- answering ---------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path in self.files:
            return web.Response(body=self.files[request.path], content_type="image/png")
        payload = await request.json() if request.can_read_body else None
        auth = request.headers.get("Authorization", "").split(" ")[0]
        self.calls.append(Call(request.method, request.path, dict(request.query), payload, auth, time.time()))
        for scripted in self.scripted:
            if scripted.method == request.method and request.path.endswith(scripted.path_end):
                self.scripted.remove(scripted)
                return web.Response(
                    status=scripted.status,
                    text=scripted.body,
                    headers=scripted.headers,
                    content_type="application/json",
                )
        if request.method == "GET" and request.path == "/2/users/me":
            return web.json_response({"data": {"id": BOT_ID, "name": "darekana", "username": BOT_NAME}})
        if request.method == "GET" and request.path == f"/2/users/{BOT_ID}/mentions":
            return web.json_response(self._mentions(request.query))
        if request.method == "POST" and request.path == "/2/tweets":
            return web.json_response(self._create(payload), status=201)
        return web.json_response({"title": "Not Found Error", "status": 404}, status=404)

    def _mentions(self, query: Any) -> dict:
        since = 0 if self.ignore_since_id else int(query.get("since_id", 0))
        found = sorted((i for i in self.mention_ids if int(i) > since), key=int, reverse=True)  # newest first
        start = int(query.get("pagination_token", 0))
        size = int(query.get("max_results", 10))
        page = [self.posts[i] for i in found[start : start + size]]
        if not page:
            return {"meta": {"result_count": 0}}
        meta = {"result_count": len(page), "newest_id": page[0]["id"], "oldest_id": page[-1]["id"]}
        if start + size < len(found):
            meta["next_token"] = str(start + size)
        return {"data": page, "includes": self._includes(page, query.get("expansions", "")), "meta": meta}

    def _includes(self, page: list[dict], expansions: str) -> dict:
        wanted = set(expansions.split(","))
        referenced = [
            self.posts[r["id"]]
            for p in page
            for r in p.get("referenced_tweets", [])
            if "referenced_tweets.id" in wanted and r["id"] in self.posts
        ]
        holders = page * ("attachments.media_keys" in wanted)
        holders += referenced * ("referenced_tweets.id.attachments.media_keys" in wanted)
        keys = [k for p in holders for k in p.get("attachments", {}).get("media_keys", [])]
        includes: dict[str, list] = {}
        if keys:
            includes["media"] = [self.media[k] for k in dict.fromkeys(keys)]
        if referenced:
            includes["tweets"] = referenced
        return includes

    def _create(self, payload: dict) -> dict:
        replied_to = (payload.get("reply") or {}).get("in_reply_to_tweet_id")
        post_id = self.post(payload["text"], author=BOT_ID, replied_to=replied_to, mention=False)
        self.created.append(post_id)
        return {"data": {"id": post_id, "text": payload["text"], "edit_history_tweet_ids": [post_id]}}
