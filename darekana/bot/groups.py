"""What to add next: faces the bot called unknown, and faces people named as characters it does not know,
grouped by how alike the bundle's network sees them, biggest group first, for moderators to enroll.

Faces are compared by the cosine distance of their embeddings (halved between faces people gave the same
new name), joined by average linkage up to ``GROUP_DISTANCE``. Cosine, not the class centres' whitened
distance: the whitening is fitted to tell the known characters apart, and measured on characters the network
never saw it separated them worse. Each face is judged again by the bundle answering now, so faces of a
character enrolled since drop out of the list.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from darekana.recognizer.decision import l2_normalize
from darekana.recognizer.engine import Recognizer
from darekana.recognizer.gallery import THUMBNAIL_SIDE, thumbnail
from darekana.recognizer.images import DecodeLimits, ImageError, decode_image, fit
from darekana.recognizer.results import Decision, Verdict

from .records import UnknownFace

GROUP_DISTANCE = 0.45  # average cosine distance within a group (1 - similarity)
MIN_GROUP = 2  # a lone face is not a group: one person's odd picture
SAMPLES = 6  # faces shown of each group, the most typical first
# Faces people gave the same new name count as this much nearer: a network trained on ten characters
# scatters one it never saw (measured: cosine clusters of six unseen characters, adjusted Rand 0.3), and
# the names are evidence too. Only nearer, not joined: one person's names cannot pull faces in on their own.
NAMED_ALIKE = 0.5
CROP_LIMITS = DecodeLimits(max_bytes=8 * 1024 * 1024)  # stored crops are at most 512 px PNGs


@dataclass(frozen=True)
class LooksLike:
    """The known character the bundle names with confidence in most of a group's faces."""

    label: str
    name: str
    faces: int


@dataclass(frozen=True)
class Group:
    """Faces alike enough to be one character. ``id`` is its lowest face id: the same group keeps it as
    faces join, so a moderator can act on what they listed."""

    faces: list[UnknownFace]
    looks_like: LooksLike | None = None
    samples: list[bytes] = field(default_factory=list, repr=False)  # JPEG thumbnails of its most typical faces

    @property
    def id(self) -> int:
        return min(f.face_id for f in self.faces)

    @property
    def people(self) -> int:
        """Different people who sent these pictures or named these faces."""
        return len({f.asker for f in self.faces} | {who for f in self.faces for _, _, who in f.names})

    @property
    def pictures(self) -> int:
        return len({f.picture_sha256 for f in self.faces})

    def names(self) -> list[tuple[str, str, int]]:
        """(label, name, how many people typed it), most typed first."""
        typed = Counter((label, name) for f in self.faces for label, name, _ in f.names)
        return [(label, name, n) for (label, name), n in typed.most_common()]


def group_faces(recognizer: Recognizer, faces: list[UnknownFace], known: set[str]) -> list[Group]:
    """The groups among ``faces``, biggest first. ``known``: labels the bundle knows; a face nobody named
    as another character stays only while the bundle still calls it unknown."""
    # shrunk as read: a thousand 512 px crops would hold 750 MB in the server, at network size 50 MB
    side = max(recognizer.manifest.input_size, THUMBNAIL_SIDE)
    readable = [(f, fit(crop, side)) for f in faces if (crop := _crop(f)) is not None]
    if not readable:
        return []
    logits, embedding = recognizer.embed([crop for _, crop in readable])
    decisions = recognizer.decide(logits, embedding)
    kept = [
        i
        for i, ((face, _), d) in enumerate(zip(readable, decisions))
        if any(label not in known for label, _, _ in face.names) or (not face.names and d.verdict is Verdict.UNKNOWN)
    ]
    if len(kept) < MIN_GROUP:
        return []
    from sklearn.cluster import AgglomerativeClustering  # ~40 MB: loaded when moderators first ask, not at start

    unit = l2_normalize(embedding[kept])
    distance = np.maximum(1 - unit @ unit.T, 0)
    distance[_named_alike([readable[i][0] for i in kept], known)] *= NAMED_ALIKE
    clusters = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=GROUP_DISTANCE
    ).fit_predict(distance)
    groups = []
    for cluster in np.unique(clusters):
        inside = np.flatnonzero(clusters == cluster)
        if len(inside) < MIN_GROUP:
            continue
        typical = np.argsort(-(unit[inside] @ unit[inside].mean(axis=0)))[:SAMPLES]
        members = [kept[i] for i in inside]
        samples = [thumbnail(readable[members[i]][1]) for i in typical]
        groups.append(Group([readable[i][0] for i in members], _looks_like([decisions[i] for i in members]), samples))
    return sorted(groups, key=lambda g: (-len(g.faces), g.id))


def contact_sheet(groups: list[Group]) -> bytes:
    """One PNG with a row of sample faces per group, headed by its id, for a chat that shows one picture."""
    side, pad, head = THUMBNAIL_SIDE, 6, 18
    sheet = Image.new("RGB", (pad + SAMPLES * (side + pad), len(groups) * (head + side + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for row, group in enumerate(groups):
        top = pad + row * (head + side + pad)
        draw.text((pad, top), f"group {group.id}: {len(group.faces)} faces", fill="black")
        for i, jpeg in enumerate(group.samples):
            sheet.paste(Image.open(io.BytesIO(jpeg)), (pad + i * (side + pad), top + head))
    buffer = io.BytesIO()
    sheet.save(buffer, "PNG")
    return buffer.getvalue()


def _named_alike(faces: list[UnknownFace], known: set[str]) -> np.ndarray:
    """(N, N): whether two faces were given the same new name (by anyone)."""
    names = [{label for label, _, _ in f.names if label not in known} for f in faces]
    return np.array([[bool(a & b) for b in names] for a in names], dtype=bool).reshape(len(faces), len(faces))


def _looks_like(decisions: list[Decision]) -> LooksLike | None:
    """A group of someone the bot knows, named otherwise (a mistake, or someone trying to teach it a wrong
    name)."""
    sure = Counter((d.label, d.name) for d in decisions if d.verdict is Verdict.CONFIDENT)
    if not sure:
        return None
    (label, name), count = sure.most_common(1)[0]
    return LooksLike(label, name, count) if 2 * count > len(decisions) else None


def _crop(face: UnknownFace) -> Image.Image | None:
    try:
        return decode_image(face.crop_png, CROP_LIMITS)
    except ImageError:  # a face stored without a crop (b"")
        return None
