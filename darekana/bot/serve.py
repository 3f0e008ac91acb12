"""``darekana serve``: the HTTP API and page always, Discord when its token is set, X when its credentials
are, one service under all of them, and the retention sweep every ``sweep_interval_s``. ``darekana db``: the
database's migrations (and the sweep) by hand."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import TYPE_CHECKING

from darekana.recognizer.bundle import BundleError

from .settings import Settings

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger("darekana")

SWEEP_DELAY_S = 60.0  # the first sweep waits this long: start-up (the gateway, the bundle) comes first


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """Runs until SIGINT/SIGTERM (or cancellation)."""
    from aiohttp import web  # the platforms load only when serving, not for `darekana recognize`

    from .http.api import make_app
    from .service import Service
    from .twitter.state import configured as twitter_configured

    twitter = twitter_configured(settings)  # half-set credentials stop here, before anything starts
    service = await Service.start(settings)
    runner = web.AppRunner(make_app(service, settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    log.info(
        "serving %s on http://%s:%d/ (database %s)",
        service.recognizer.version,
        settings.http_host,
        settings.http_port,
        _safe_url(settings.database_url),
    )
    tasks = [
        asyncio.create_task(_stopped()),
        asyncio.create_task(watch_bundle(service, settings)),
        asyncio.create_task(sweep_periodically(service, settings)),
    ]
    client = None
    if settings.discord_token:
        from .discord import make_client

        client = make_client(service, settings)
        tasks.append(asyncio.create_task(client.start(settings.discord_token)))
    if twitter:
        from .twitter.poller import run_twitter

        tasks.append(asyncio.create_task(run_twitter(service, settings)))
    if ready:
        ready.set()
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a Discord login failure or refused X credentials end the process with its message
    finally:
        for task in tasks:
            task.cancel()
        if client is not None:
            await client.close()
        await runner.cleanup()
        service.close()


async def _stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")


async def _refresh_galleries(service: Service) -> None:
    try:
        changed = await service.refresh_galleries()
    except Exception as exc:  # the database or a crop: serving goes on with the galleries it has
        log.error("could not refresh the servers' own characters: %s", exc)
        return
    if changed:
        log.info("servers' own characters changed elsewhere: %d galleries rebuilt", changed)


async def watch_bundle(service: Service, settings: Settings) -> None:
    """Reloads the service's bundle when ``settings.bundle`` (a link such as ``models/current``) points
    somewhere new, checked every ``bundle_poll_s`` seconds, and whenever SIGHUP arrives; at each check, also
    the galleries of servers whose own characters another process changed. Never returns."""
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, wake.set)
    except (NotImplementedError, RuntimeError, ValueError):  # no signals outside the main thread: poll only
        pass
    # what the service has loaded, not where the link points now: a promotion during start-up is not missed
    loaded = os.path.realpath(service.recognizer.path)
    try:
        while True:
            try:
                await asyncio.wait_for(wake.wait(), settings.bundle_poll_s if settings.bundle_poll_s > 0 else None)
            except TimeoutError:
                pass
            await _refresh_galleries(service)
            forced = wake.is_set()
            wake.clear()
            target = os.path.realpath(settings.bundle)
            # nor what the service loaded itself since (an enrolment promotes, then reloads)
            if not forced and target in (loaded, os.path.realpath(service.recognizer.path)):
                continue
            # remembered even when the reload fails: a broken bundle is reported once, not every few seconds
            loaded = target
            try:
                await service.reload(target)
            except BundleError:
                pass  # logged by the service, which answers on with the old bundle
            except Exception as exc:  # e.g. the database while syncing characters: serving must not stop
                log.error("could not reload the bundle %s: %s", target, exc)
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


async def sweep_periodically(service: Service, settings: Settings) -> None:
    """Runs the retention sweep (:meth:`Service.sweep`) every ``sweep_interval_s`` seconds, the first a little
    after start; 0 never. Its batches run off the event loop, on threads that are not the recognition
    workers: answering goes on meanwhile. A failure is logged and the next sweep tries again. Never returns."""
    if settings.sweep_interval_s <= 0:
        await asyncio.Event().wait()
    await asyncio.sleep(min(settings.sweep_interval_s, SWEEP_DELAY_S))
    while True:
        try:
            swept = await service.sweep()
            if swept.crops or swept.servers:
                log.info("%s", swept.text)
        except Exception:
            log.exception("the retention sweep failed; trying again in %g s", settings.sweep_interval_s)
        await asyncio.sleep(settings.sweep_interval_s)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
