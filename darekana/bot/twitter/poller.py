"""darekana on X (Twitter): reads the bot account's mentions every few minutes and answers under them.
This module only translates between X's API v2 (through tweepy's async client) and
:class:`darekana.bot.service.Service`::

    await run_twitter(service, settings)   # until cancelled; `darekana serve` does this when configured

X bills every read and every post, so the poller is frugal:

* one request per poll reads the new mentions with their photos and the posts they reply to or quote
  (expansions), from ``since_id`` kept in the database; a backlog is read at most ``MAX_PAGES`` pages
  deep, and the very first poll reads one page only, not the account's history;
* a mention with a photo, or replying to (or quoting) a post with one, is answered with one text post
  when the service finds it worth a post (:meth:`Service.reply_to_post`: with ``twitter_only_confident``,
  only when some face is named with confidence). The first photo of the
  post is recognised (one recognition per answer is what corrections refer to);
* a reply to one of the bot's answers may confirm or correct it (see :mod:`.text`); it is stored
  always, and acknowledged with a short post while the budget allows (a like would be billed as well and
  could not say which character was stored);
* a mention saying ``forget`` deletes everything its author sent or said (:meth:`Service.forget`) at once,
  and is acknowledged with a short post while the budget allows;
* every post counts against ``twitter_replies_per_hour`` and ``_per_day``. A mention that arrives when
  the budget is spent is not answered, then or later: the poller moves on (a late answer to a burst would
  spend the next hour's budget on stale requests);
* pictures that cannot be read, mentions without a picture and other talk get no post: saying so would
  cost one. The reason goes to the log and to ``darekana twitter status``;
* a 429 waits until X's reset time (the 15-minute window's, or the 24-hour post limit's); other failures
  back off, doubling up to an hour.

Each answer is claimed in the database before it is posted (:meth:`Service.answer_once`), so the same
mention seen twice (a restart between posting and saving ``since_id``, X sending it again, or two
processes polling one account) is never answered twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import tweepy
from tweepy.asynchronous import AsyncClient

from ..callers import Place, Requester
from ..errors import ServiceError
from ..records import Kind
from ..service import Service
from ..settings import Settings
from .state import PLATFORM, reply_budget
from .text import answer_text, asks_to_forget, clip, parse_feedback

log = logging.getLogger("darekana.twitter")

PAGE_SIZE = 25  # mentions per read (X allows 5 to 100)
MAX_PAGES = 4  # deepest backlog read after a pause; older mentions are skipped
MAX_BACKOFF_S = 3600.0
WINDOW_S = 15 * 60  # X's rate-limit window: the wait when a 429 does not say when it resets
API_TIMEOUT_S = 30.0
MENTION_FIELDS: dict[str, list[str]] = {
    "expansions": ["attachments.media_keys", "referenced_tweets.id", "referenced_tweets.id.attachments.media_keys"],
    "media_fields": ["url", "type"],
    "tweet_fields": ["author_id", "attachments", "conversation_id", "referenced_tweets"],
}
# (remaining, reset) header pairs; the 24-hour ones come with the daily post limits.
LIMIT_HEADERS = (
    ("x-rate-limit-remaining", "x-rate-limit-reset"),
    ("x-user-limit-24hour-remaining", "x-user-limit-24hour-reset"),
    ("x-app-limit-24hour-remaining", "x-app-limit-24hour-reset"),
)


def make_client(settings: Settings) -> AsyncClient:
    """tweepy's API v2 client answering plain dicts; its aiohttp session is set by :func:`run_twitter`."""
    return AsyncClient(
        bearer_token=settings.twitter_bearer_token or None,
        consumer_key=settings.twitter_consumer_key,
        consumer_secret=settings.twitter_consumer_secret,
        access_token=settings.twitter_access_token,
        access_token_secret=settings.twitter_access_token_secret,
        return_type=dict,
    )


async def run_twitter(service: Service, settings: Settings, client: AsyncClient | None = None) -> None:
    """Polls and answers until cancelled. Refused credentials end it with :class:`Refused` (a ValueError,
    which ``darekana`` prints as one line)."""
    client = client or make_client(settings)
    own_session = client.session is None
    if own_session:  # tweepy would open a session per request, with no deadline
        client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=API_TIMEOUT_S))
    try:
        await TwitterBot(service, settings, client).run()
    finally:
        if own_session:
            await client.session.close()


@dataclass(frozen=True)
class Picture:
    post_id: str  # the post holding it: the mention itself, or the one it replies to or quotes
    url: str


@dataclass(frozen=True)
class Mention:
    id: str
    author_id: str
    text: str
    conversation_id: str | None
    replied_to: str | None
    picture: Picture | None


class MalformedPage(ValueError):
    """X answered something that is not a page of mentions."""


def parse_page(page: Mapping[str, Any]) -> tuple[list[Mention], str | None]:
    """The mentions of one page of ``get_users_mentions`` (with ``MENTION_FIELDS``), and the next page's
    token when there is one."""
    try:
        includes = page.get("includes") or {}
        media = {item["media_key"]: item for item in includes.get("media", [])}
        posts = {str(post["id"]): post for post in includes.get("tweets", [])}
        mentions = [_mention(post, media, posts) for post in page.get("data", [])]
        return mentions, (page.get("meta") or {}).get("next_token")
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise MalformedPage(f"X sent mentions I cannot read ({type(exc).__name__}: {exc})") from exc


def _mention(post: Mapping[str, Any], media: Mapping[str, Any], posts: Mapping[str, Any]) -> Mention:
    references = {ref["type"]: str(ref["id"]) for ref in post.get("referenced_tweets", [])}
    picture = _picture(post, media)
    for kind in ("replied_to", "quoted"):
        if picture is None and references.get(kind) in posts:
            picture = _picture(posts[references[kind]], media)
    return Mention(
        str(int(post["id"])),
        str(post["author_id"]),
        str(post.get("text", "")),
        post.get("conversation_id"),
        references.get("replied_to"),
        picture,
    )


def _picture(post: Mapping[str, Any], media: Mapping[str, Any]) -> Picture | None:
    for key in (post.get("attachments") or {}).get("media_keys", []):
        item = media.get(key) or {}
        if item.get("type") == "photo" and item.get("url"):  # videos and GIFs have no url, only a preview
            return Picture(str(post["id"]), item["url"])
    return None


def wait_for_reset(error: tweepy.TooManyRequests, now: float) -> float:
    """Seconds until X lifts the limit that refused us: the latest reset among the exhausted limits."""
    headers = error.response.headers
    resets = [
        int(headers[reset])
        for remaining, reset in LIMIT_HEADERS
        if headers.get(remaining) == "0" and headers.get(reset, "").isdigit()
    ]
    if not resets and error.reset_time is not None:
        resets = [error.reset_time]
    # +1: resets are whole seconds, and asking again within the reset second may still be refused
    return max(resets) - now + 1 if resets else WINDOW_S


class Refused(ValueError):
    """X refuses the credentials (or the app's access): polling again cannot help."""


class TwitterBot:
    def __init__(self, service: Service, settings: Settings, client: AsyncClient):
        self.service, self.settings, self.client = service, settings, client
        self.state = service.poll_state(PLATFORM, *reply_budget(settings))
        self.read_as_user = not settings.twitter_bearer_token  # app-only reads when a bearer token is given
        self.user_id: str | None = None  # the bot's account, looked up by the first poll

    async def run(self) -> None:
        """Polls until cancelled; only refused credentials end it (with :class:`Refused`)."""
        failures = 0
        while True:
            try:
                await self.poll()
                failures, delay = 0, self.settings.twitter_poll_seconds
            except tweepy.TooManyRequests as exc:
                failures += 1  # the backoff as a floor: a reset already past (clock skew) must not hammer
                delay = max(wait_for_reset(exc, time.time()), self._backoff(failures))
                await self._note(f"X rate limit: waiting {delay:.0f} s for its reset")
            except (tweepy.Unauthorized, tweepy.Forbidden) as exc:  # reads only: posts' refusals stay in poll
                raise Refused(f"X refused the DAREKANA_TWITTER_* credentials or the app's access: {exc}") from None
            except (tweepy.HTTPException, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                failures += 1
                delay = self._backoff(failures)
                await self._note(f"reading mentions failed ({_describe(exc)}); next try in {delay:.0f} s")
            await asyncio.sleep(delay)

    def _backoff(self, failures: int) -> float:
        return min(self.settings.twitter_poll_seconds * 2**failures, MAX_BACKOFF_S)

    async def poll(self) -> None:
        """Reads the new mentions and handles them oldest first, moving ``since_id`` past each."""
        if self.user_id is None:
            self.user_id = await self._own_id()
        for mention in sorted(await self._read_mentions(), key=lambda m: int(m.id)):
            try:
                await self._handle(mention)
            except tweepy.TooManyRequests:
                # Only posting raises it here, after the answer was claimed: retrying could not post it.
                await asyncio.to_thread(self.state.advance, mention.id)
                raise
            except Exception as exc:  # one bad mention must not block the others; it is not retried
                log.exception("answering mention %s failed", mention.id)
                await self._note(f"mention {mention.id}: {_describe(exc)}")
            await asyncio.to_thread(self.state.advance, mention.id)
        await asyncio.to_thread(self.state.polled)

    async def _own_id(self) -> str:
        """One read per start; it also checks the credentials before any mention is read."""
        me = await self.client.get_me(user_auth=True)
        try:
            log.info("answering mentions of @%s on X", me["data"]["username"])
            return str(me["data"]["id"])
        except (KeyError, TypeError) as exc:
            raise MalformedPage(f"X sent an account I cannot read ({exc!r})") from exc

    async def _read_mentions(self) -> list[Mention]:
        since_id = await asyncio.to_thread(self.state.since_id)
        mentions: list[Mention] = []
        token = None
        for _ in range(MAX_PAGES if since_id else 1):
            page = await self.client.get_users_mentions(
                self.user_id,
                since_id=since_id,
                pagination_token=token,
                max_results=PAGE_SIZE,
                user_auth=self.read_as_user,
                **MENTION_FIELDS,
            )
            found, token = parse_page(page)
            mentions += found
            if not token:
                return mentions
        if since_id:
            await self._note(f"more than {MAX_PAGES * PAGE_SIZE} new mentions: the older ones were skipped")
        return mentions

    async def _handle(self, mention: Mention) -> None:
        if mention.author_id == self.user_id:
            return
        if asks_to_forget(mention.text):
            await self._forget(mention)
            return
        if mention.picture is None and mention.replied_to is not None:
            answered = await self.service.answered(PLATFORM, mention.replied_to)
            if answered is not None:
                await self._feedback(mention, answered)
                return
        if mention.picture is not None:
            await self._answer(mention, mention.picture)

    async def _answer(self, mention: Mention, picture: Picture) -> None:
        if not await self._budget_allows(mention):
            return
        where = Place(channel_id=mention.conversation_id, message_id=picture.post_id, request_id=mention.id)
        try:
            who = Requester(PLATFORM, mention.author_id)
            reply = await self.service.reply_to_post(picture.url, who, where, annotate=False)
        except ServiceError as exc:
            await self._note(f"mention {mention.id}: {exc.message}")
            return
        if reply is None:
            log.info("mention %s: no face named with confidence, not answered", mention.id)
            return
        await self._post(mention.id, reply.recognition_id, answer_text(reply))

    async def _feedback(self, mention: Mention, recognition_id: int) -> None:
        said = parse_feedback(mention.text)
        if said is None:
            return
        who = Requester(PLATFORM, mention.author_id)
        try:
            name = None if said.kind is Kind.CONFIRMATION else said.name
            text = (await self.service.feedback_by_number(recognition_id, said.face, name, who)).text
        except ServiceError as exc:
            text = exc.message
        if await self._budget_allows(mention):  # stored either way; only the acknowledgement costs
            await self._post(mention.id, recognition_id, clip(text))

    async def _forget(self, mention: Mention) -> None:
        """Deletes first (nothing waits on the budget), then says so while the budget allows."""
        forgotten = await self.service.forget(Requester(PLATFORM, mention.author_id))
        if await self._budget_allows(mention):
            await self._post(mention.id, None, clip(forgotten.text))

    async def _budget_allows(self, mention: Mention) -> bool:
        budget = await asyncio.to_thread(self.state.budget)
        if budget.left <= 0:
            await self._note(
                f"posting budget spent ({budget.hour}/{budget.per_hour} an hour, "
                f"{budget.day}/{budget.per_day} a day): mention {mention.id} not answered"
            )
        return budget.left > 0

    async def _post(self, mention_id: str, recognition_id: int | None, text: str) -> None:
        async def post() -> str:
            posted = await self.client.create_tweet(text=text, in_reply_to_tweet_id=mention_id, user_auth=True)
            return str(posted["data"]["id"])

        await self.service.answer_once(PLATFORM, mention_id, post, recognition_id)

    async def _note(self, message: str) -> None:
        log.warning("%s", message)
        await asyncio.to_thread(self.state.note, message)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:150]
