"""A stand-in for Discord on 127.0.0.1, so that tests run discord.py's own code end to end without network.

* ``FakeDiscord`` is an aiohttp server answering the REST calls discord.py makes in darekana's flows (login,
  command sync, interaction callbacks, webhook follow-ups and edits, channel messages) with plausible
  Discord JSON, and serving attachment files like Discord's CDN. It records every call, JSON and
  multipart alike, for tests to assert on.
* The ``*_payload`` helpers build gateway-shaped events (guild, messages, interactions) for one guild with
  two text channels, one of them age-restricted (NSFW), to feed into discord.py's parsers
  (``client._connection.parse_interaction_create``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

APP_ID = 900000000000000001
BOT_ID = APP_ID  # a bot user shares its application's id
GUILD_ID = 900000000000000010
CHANNEL_ID = 900000000000000020
DM_CHANNEL_ID = 900000000000000021
NSFW_CHANNEL_ID = 900000000000000022  # age-restricted
MODERATOR_ROLE_ID = 900000000000000030
MANAGE_MESSAGES = 1 << 13
SEND_AND_READ = (1 << 10) | (1 << 11) | (1 << 15) | (1 << 16)  # view channel, send, attach, read history

BOT_USER = {
    "id": str(BOT_ID),
    "username": "darekana",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
}


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Call:
    """One request discord.py made: ``path`` is relative to the API base (``/users/@me``); ``message`` is
    the message the fake made of it, if any (what a later button press would come from)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[Part] = field(default_factory=list)
    message: dict | None = None


class FakeDiscord:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[int, dict] = {}  # every message the fake knows, by id
        self.files: dict[str, tuple[bytes, str]] = {}  # CDN path → (bytes, content type)
        self._originals: dict[str, int] = {}  # interaction token → its response message's id
        self._ids = itertools.count(910000000000000000)
        self._runner: web.AppRunner | None = None
        self.base = ""
        # the gateway, for tests that start the client: the servers it is in, and the shards Discord advises
        self.guilds: list[dict] = []
        self.shard_count = 1
        self.identified: list[tuple[int, int]] = []  # (shard id, shard count) of each IDENTIFY

    # --- running -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api(self) -> str:
        """The API's base URL: what ``discord.http.Route.BASE`` is set to."""
        return f"{self.base}/api/v10"

    # --- what tests set up and read ----------------------------------------------------------------------

    def snowflake(self) -> int:
        return next(self._ids)

    def serve(self, name: str, data: bytes, content_type: str) -> str:
        """Serves ``data`` at a CDN-like URL, returned."""
        path = f"/attachments/{CHANNEL_ID}/{self.snowflake()}/{name}"
        self.files[path] = (data, content_type)
        return self.base + path

    def add_message(self, message: dict) -> dict:
        self.messages[int(message["id"])] = message
        return message

    def interaction_on(self, token: str, message: dict) -> None:
        """Records that the interaction of ``token`` comes from ``message`` (a component's), which is what
        its ``@original`` is once its response is deferred (type 6)."""
        if int(message["id"]) in self.messages:
            self._originals[token] = int(message["id"])

    def find(self, method: str, pattern: str) -> list[Call]:
        """The calls so far whose method matches and whose path matches ``pattern`` (a regex) in full."""
        return [c for c in self.calls if c.method == method and re.fullmatch(pattern, c.path)]

    async def wait_for(self, method: str, pattern: str, count: int = 1, timeout: float = 20.0) -> list[Call]:
        """Waits until ``count`` such calls were made; returns them all (AssertionError on timeout)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found := self.find(method, pattern)) < count:
            if asyncio.get_running_loop().time() > deadline:
                made = "\n".join(f"  {c.method} {c.path} {c.json}" for c in self.calls)
                raise AssertionError(f"no {count}× {method} {pattern} within {timeout} s; calls:\n{made}")
            await asyncio.sleep(0.02)
        return found

    # --- answering -------------------------------------------------------------------------------------

    def add_guilds(self, count: int) -> None:
        """``count`` servers the bot is in, spread over shards by their ids as Discord spreads them."""
        for n in range(1, count + 1):
            gid = str(n << 22)  # shard (id >> 22) % shards: n % shards
            roles = [everyone_role(int(gid))]
            self.guilds.append(guild_payload() | {"id": gid, "name": f"club {n}", "roles": roles, "channels": []})

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        """Discord's gateway, as much of it as logging in needs: HELLO, then READY and every server of the
        shard that identified, and heartbeat acknowledgements."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}})
        sequence = 0
        async for message in ws:
            data = json.loads(message.data)
            if data["op"] == 1:
                await ws.send_json({"op": 11})
            elif data["op"] == 2:
                shard, count = data["d"].get("shard", [0, 1])
                self.identified.append((shard, count))
                mine = [g for g in self.guilds if (int(g["id"]) >> 22) % count == shard]
                ready = {
                    "v": 10,
                    "user": BOT_USER,
                    "session_id": f"session-{shard}",
                    "shard": [shard, count],
                    "guilds": [{"id": g["id"], "unavailable": True} for g in mine],
                    "resume_gateway_url": self.gateway,
                    "application": {"id": str(APP_ID), "flags": 0},
                }
                for kind, event in [("READY", ready), *(("GUILD_CREATE", g) for g in mine)]:
                    sequence += 1
                    await ws.send_json({"op": 0, "t": kind, "s": sequence, "d": event})
        return ws

    @property
    def gateway(self) -> str:
        """The gateway's URL: what ``GET /gateway/bot`` answers, and what ``DiscordWebSocket.DEFAULT_GATEWAY``
        (used when the shard count is given) is set to."""
        return self.base.replace("http://", "ws://") + "/gateway"

    def _bot_gateway(self, call: Call) -> dict:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 16}
        return {"url": self.gateway, "shards": self.shard_count, "session_start_limit": limit}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/gateway":
            return await self._gateway(request)
        path = request.path.removeprefix("/api/v10")
        payload, files = await _body(request)
        call = Call(request.method, path, dict(request.query), payload, files)
        self.calls.append(call)
        if request.method == "GET" and request.path in self.files:
            data, content_type = self.files[request.path]
            return web.Response(body=data, content_type=content_type)
        for method, pattern, answer in self._routes():
            match = re.fullmatch(pattern, path)
            if method == request.method and match:
                result = answer(call, **match.groupdict())
                return web.Response(status=204) if result is None else _json(result)
        return _json({"message": "Unknown route (fake)", "code": 0}, 404)

    def _routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        hook = r"/webhooks/\d+/(?P<token>[^/]+)"
        return [
            ("GET", r"/users/@me", lambda call: BOT_USER),
            ("GET", r"/gateway/bot", self._bot_gateway),
            ("GET", r"/oauth2/applications/@me", lambda call: _application()),
            ("PUT", r"/applications/\d+/commands", self._sync),
            ("POST", r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback", self._callback),
            ("POST", hook, self._followup),
            ("PATCH", hook + r"/messages/@original", self._edit_original),
            ("DELETE", hook + r"/messages/@original", lambda call, token: None),
            ("POST", r"/channels/(?P<channel>\d+)/messages", self._channel_message),
            ("GET", r"/channels/\d+/messages/(?P<mid>\d+)", self._get_message),
        ]

    def _sync(self, call: Call) -> list[dict]:
        defaults = {
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "dm_permission": True,
            "nsfw": False,
        }
        return [
            {**defaults, **command, "id": str(self.snowflake()), "application_id": str(APP_ID), "version": "1"}
            for command in call.json
        ]

    def _callback(self, call: Call, iid: str, token: str) -> dict:
        kind, data = call.json["type"], call.json.get("data") or {}
        response: dict[str, Any] = {"id": iid, "type": 2}
        resource: dict[str, Any] = {"type": kind}
        if kind in (4, 5, 7):  # a message, "thinking…", or an update of the component's message
            # An update (7) edits the component's message; a new message with its content stands in for it.
            message = call.message = self._message(CHANNEL_ID, data, call.files, loading=kind == 5)
            self._originals[token] = int(message["id"])
            response.update(
                response_message_id=message["id"],
                response_message_loading=kind == 5,
                response_message_ephemeral=bool(data.get("flags", 0) & 64),
            )
            if kind != 5:
                resource["message"] = message
        return {"interaction": response, "resource": resource}

    def _followup(self, call: Call, token: str) -> dict:
        call.message = self._message(CHANNEL_ID, call.json or {}, call.files, webhook=True)
        return call.message

    def _edit_original(self, call: Call, token: str) -> dict:
        message = self.messages[self._originals[token]]
        message.update({k: v for k, v in (call.json or {}).items() if k in ("content", "components", "embeds")})
        return message

    def _channel_message(self, call: Call, channel: str) -> dict:
        call.message = self._message(int(channel), call.json or {}, call.files)
        return call.message

    def _get_message(self, call: Call, mid: str) -> dict:
        if int(mid) not in self.messages:
            raise web.HTTPNotFound(
                body=json.dumps({"message": "Unknown Message", "code": 10008}).encode(),
                headers={"Content-Type": "application/json"},
            )
        return self.messages[int(mid)]

    def _message(
        self, channel_id: int, payload: dict, files: list[Part], *, loading: bool = False, webhook: bool = False
    ) -> dict:
        """A message as Discord would store it from what discord.py sent."""
        attachments = [
            {
                "id": str(self.snowflake()),
                "filename": part.filename,
                "size": len(part.data),
                "content_type": part.content_type,
                "url": self.serve(part.filename or "file", part.data, part.content_type or ""),
                "proxy_url": "",
            }
            for part in files
        ]
        flags = payload.get("flags", 0) | (128 if loading else 0)
        message = message_payload(
            self.snowflake(),
            BOT_USER,
            payload.get("content") or "",
            channel_id=channel_id,
            attachments=attachments,
            flags=flags,
            components=payload.get("components", []),
        )
        if webhook:
            message["webhook_id"] = str(APP_ID)
        if "message_reference" in payload:
            message["message_reference"] = payload["message_reference"]
            message["type"] = 19
        return self.add_message(message)


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only when the content type is exactly application/json (no charset).
    return web.Response(status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json"})


async def _body(request: web.Request) -> tuple[Any, list[Part]]:
    if request.content_type == "multipart/form-data":
        payload, files = None, []
        async for part in await request.multipart():
            data = await part.read()  # type: ignore[union-attr]
            if part.name == "payload_json":
                payload = json.loads(data)
            else:
                files.append(Part(part.name or "", part.filename, part.headers.get("Content-Type"), bytes(data)))
        return payload, files
    if request.can_read_body:
        return await request.json(), []
    return None, []


def _application() -> dict:
    return {
        "id": str(APP_ID),
        "name": "darekana",
        "description": "",
        "icon": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": {**BOT_USER, "id": "1", "bot": False, "username": "owner"},
        "verify_key": "0" * 64,
        "flags": 0,
        "summary": "",
    }


# --- gateway payloads ------------------------------------------------------------------------------------


def now() -> str:
    return datetime.now(UTC).isoformat()


def user_payload(user_id: int, name: str = "someone", bot: bool = False) -> dict:
    return {"id": str(user_id), "username": name, "discriminator": "0", "global_name": name, "avatar": None, "bot": bot}


def member_payload(user: dict, roles: tuple[int, ...] = (), permissions: int = SEND_AND_READ) -> dict:
    """A member as interactions carry it: ``permissions`` are theirs in the channel."""
    return {
        "user": user,
        "roles": [str(r) for r in roles],
        "joined_at": now(),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "permissions": str(permissions),
    }


def channel_payload(channel_id: int = CHANNEL_ID) -> dict:
    """A text channel of the guild, as Discord describes it: ``general``, or the age-restricted ``after-dark``."""
    nsfw = channel_id == NSFW_CHANNEL_ID
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(GUILD_ID),
        "name": "after-dark" if nsfw else "general",
        "position": 1 if nsfw else 0,
        "permission_overwrites": [],
        "nsfw": nsfw,
        "parent_id": None,
    }


def everyone_role(guild_id: int) -> dict:
    """A server's @everyone role (its id is the server's): members may read and send."""
    return {
        "id": str(guild_id),
        "name": "@everyone",
        "permissions": str(SEND_AND_READ),
        "position": 0,
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def guild_payload() -> dict:
    everyone = everyone_role(GUILD_ID)
    moderators = {**everyone, "id": str(MODERATOR_ROLE_ID), "name": "Moderators", "position": 1}
    channels = [channel_payload(c) | {"topic": None} for c in (CHANNEL_ID, NSFW_CHANNEL_ID)]
    return {
        "id": str(GUILD_ID),
        "name": "Anime club",
        "icon": None,
        "owner_id": "1",
        "roles": [everyone, moderators],
        "channels": channels,
        "threads": [],
        "members": [],
        "emojis": [],
        "stickers": [],
        "features": [],
        "member_count": 3,
        "large": False,
        "unavailable": False,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "nsfw_level": 0,
        "joined_at": now(),
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def attachment_payload(attachment_id: int, url: str, filename: str, size: int, content_type: str | None) -> dict:
    return {
        "id": str(attachment_id),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
    }


def message_payload(
    message_id: int,
    author: dict,
    content: str = "",
    *,
    channel_id: int = CHANNEL_ID,
    attachments: Sequence[dict] = (),
    embeds: Sequence[dict] = (),
    components: Sequence[dict] = (),
    flags: int = 0,
    mentions: Sequence[dict] = (),
) -> dict:
    return {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "type": 0,
        "content": content,
        "author": author,
        "attachments": list(attachments),
        "embeds": list(embeds),
        "components": list(components),
        "mentions": list(mentions),
        "mention_roles": [],
        "mention_everyone": False,
        "pinned": False,
        "tts": False,
        "timestamp": now(),
        "edited_timestamp": None,
        "flags": flags,
    }


def guild_message_event(message: dict, member: dict, referenced: dict | None = None) -> dict:
    """MESSAGE_CREATE in the guild: the author's member (without user) rides along; a reply carries the
    message it replies to."""
    event = {**message, "guild_id": str(GUILD_ID), "member": {k: v for k, v in member.items() if k != "user"}}
    if referenced is not None:
        event.update(
            type=19,
            referenced_message=referenced,
            message_reference={
                "message_id": referenced["id"],
                "channel_id": str(CHANNEL_ID),
                "guild_id": str(GUILD_ID),
                "type": 0,
            },
        )
    return event


def interaction_payload(
    fake: FakeDiscord,
    kind: int,
    data: dict,
    member: dict | None = None,
    user: dict | None = None,
    message: dict | None = None,
    channel_id: int = CHANNEL_ID,
) -> dict:
    """An INTERACTION_CREATE: in the guild's ``channel_id`` for a ``member``, in a DM for a bare ``user``."""
    payload: dict[str, Any] = {
        "id": str(fake.snowflake()),
        "application_id": str(APP_ID),
        "type": kind,
        "data": data,
        "token": f"token-{fake.snowflake()}",
        "version": 1,
        "locale": "en-US",
        "entitlements": [],
        "app_permissions": str(SEND_AND_READ),
        "attachment_size_limit": 25 * 1024 * 1024,
    }
    if member is not None:
        payload.update(
            guild_id=str(GUILD_ID),
            member=member,
            guild_locale="en-US",
            context=0,
            channel_id=str(channel_id),
            authorizing_integration_owners={"0": str(GUILD_ID)},
            channel=channel_payload(channel_id),
        )
    else:
        payload.update(
            user=user,
            context=1,
            channel_id=str(DM_CHANNEL_ID),
            authorizing_integration_owners={"0": "0"},
            channel={"id": str(DM_CHANNEL_ID), "type": 1, "recipients": [user]},
        )
    if message is not None:
        payload["message"] = message
    return payload


def slash_payload(
    fake: FakeDiscord, name: str, options: Sequence[dict] = (), attachments: Sequence[dict] = (), **who: Any
) -> dict:
    data: dict[str, Any] = {"id": str(fake.snowflake()), "name": name, "type": 1, "options": list(options)}
    if attachments:
        data["resolved"] = {"attachments": {a["id"]: a for a in attachments}}
    return interaction_payload(fake, 2, data, **who)


def subcommand_payload(fake: FakeDiscord, group: str, name: str, **who: Any) -> dict:
    return slash_payload(fake, group, [{"type": 1, "name": name, "options": []}], **who)


def message_menu_payload(fake: FakeDiscord, name: str, target: dict, **who: Any) -> dict:
    data = {
        "id": str(fake.snowflake()),
        "name": name,
        "type": 3,
        "target_id": target["id"],
        "resolved": {"messages": {target["id"]: target}},
    }
    return interaction_payload(fake, 2, data, **who)


def component_payload(
    fake: FakeDiscord, message: dict, custom_id: str, values: list[str] | None = None, **who: Any
) -> dict:
    """A press on a button (``values`` None) or a choice in a select menu of ``message``."""
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": 2 if values is None else 3}
    if values is not None:
        data["values"] = values
    payload = interaction_payload(fake, 3, data, message=message, **who)
    fake.interaction_on(payload["token"], message)
    return payload


def modal_submit_payload(fake: FakeDiscord, modal: dict, values: dict[str, str], **who: Any) -> dict:
    """Submits the form discord.py sent (an interaction callback of type 9) with ``values`` by field label."""
    rows = []
    for row in modal["components"]:
        inputs = [row.get("component")] if row["type"] == 18 else row.get("components", [])
        rows.append(
            {
                "type": 1,
                "components": [
                    {"type": 4, "custom_id": c["custom_id"], "value": values[c["label"]]}
                    for c in inputs
                    if c and c["type"] == 4
                ],
            }
        )
    return interaction_payload(fake, 5, {"custom_id": modal["custom_id"], "components": rows}, **who)
