"""Which bundle the bot answers with: promoting one (``darekana bundle promote NEW``) and reading the
current one (``darekana bundle current``).

Bundles are versioned directories (``models/animeface-10``, ``models/2026-11-24-corrections``, ...) and
``models/current`` is a symbolic link to one of them. Promotion first loads NEW completely (checksums, both
models, shapes), so a broken bundle is refused before anything changes; then it re-points the link in one
``rename``: a reader of ``models/current`` sees the old bundle or the new one, never a missing or half one.
A running ``darekana serve`` whose ``DAREKANA_BUNDLE`` is the link notices and reloads (``bot/serve.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

from darekana.recognizer.engine import Recognizer
from darekana.recognizer.layout import CURRENT_BUNDLE


def promote(new: str | os.PathLike[str], current: Path = CURRENT_BUNDLE) -> Recognizer:
    """Points ``current`` at ``new`` once ``new`` loads; raises :class:`darekana.recognizer.bundle.BundleError`
    (and changes nothing) when it does not. Returns the loaded bundle."""
    target = Path(new).resolve()
    recognizer = Recognizer(target)  # the whole load, not just the manifest: the server will do the same
    point(current, target)
    return recognizer


def point(current: Path, target: Path) -> None:
    """Makes the link ``current`` point at ``target`` in one rename: there is no moment without it."""
    if current.exists() and not current.is_symlink():
        raise ValueError(f"{current} is a real directory, not a link: move it aside, then promote it by name")
    current.parent.mkdir(parents=True, exist_ok=True)
    # relative, so the models folder can move as a whole
    link = os.path.relpath(target.resolve(), current.parent.resolve())
    tmp = current.with_name(f".{current.name}.{os.getpid()}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()  # left by a promotion that was killed between the two steps
    os.symlink(link, tmp, target_is_directory=True)
    os.replace(tmp, current)  # rename(2): atomic on one filesystem


def current_bundle(current: Path = CURRENT_BUNDLE) -> Recognizer:
    """The bundle ``current`` points at, loaded (so a broken one is reported as such)."""
    if not current.exists():
        raise FileNotFoundError(f"{current} does not exist: promote a bundle first (darekana bundle promote NEW)")
    return Recognizer(current.resolve())
