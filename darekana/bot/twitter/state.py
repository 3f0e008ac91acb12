"""Whether the X poller runs, and what ``darekana twitter status`` prints of what it remembers
(:class:`darekana.bot.polling.PollState`). Nothing here talks to X (or imports tweepy): the status costs
no API call."""

from __future__ import annotations

from ..polling import PollState
from ..settings import Settings

PLATFORM = "twitter"
CREDENTIALS = ("twitter_consumer_key", "twitter_consumer_secret", "twitter_access_token", "twitter_access_token_secret")


def configured(settings: Settings) -> bool:
    """True when the X poller should run: all four user credentials set (posting needs them). Some but
    not all is a mistake worth stopping for rather than a silently absent bot."""
    given = [name for name in CREDENTIALS if getattr(settings, name)]
    if given and len(given) < len(CREDENTIALS):
        missing = ", ".join(f"DAREKANA_{name.upper()}" for name in CREDENTIALS if name not in given)
        raise ValueError(f"X (Twitter) is half configured: set {missing} too, or unset them all")
    if given and (settings.twitter_poll_seconds <= 0 or min(reply_budget(settings)) < 0):
        raise ValueError("DAREKANA_TWITTER_POLL_SECONDS must be positive and the reply budgets at least 0")
    return bool(given)


def reply_budget(settings: Settings) -> tuple[int, int]:
    """The poller's posting budget: posts an hour, posts a day."""
    return settings.twitter_replies_per_hour, settings.twitter_replies_per_day


def status_text(state: PollState, settings: Settings) -> str:
    budget = state.budget()
    try:
        on = "on" if configured(settings) else "off (the DAREKANA_TWITTER_* credentials are not set)"
    except ValueError as exc:  # the state is worth showing all the same
        on = f"off: {exc}"
    lines = [
        f"X poller: {on}",
        (
            f"posts: {budget.hour}/{budget.per_hour} in the last hour, {budget.day}/{budget.per_day} "
            "in the last 24 hours"
        ),
        f"since_id: {state.since_id() or 'none yet'} (mentions last read: {state.polled_at() or 'never'})",
    ]
    problems = state.problems()
    lines.append("recent problems:" if problems else "recent problems: none")
    lines.extend(f"  {problem}" for problem in problems)
    return "\n".join(lines)
