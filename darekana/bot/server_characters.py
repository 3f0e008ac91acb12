"""Each server's own characters: those its moderators enrolled for it alone, as extra characters of the
serving bundle (``darekana.recognizer.extra``). No retraining and no new bundle: the crops are embedded with
the bundle's network, and embedded again when a bundle with another network is promoted, so the crops are
kept as long as the character is.

How the service keeps them in step with the store and the bundle: ``darekana.bot.galleries``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image

from darekana.recognizer.bundle import Label
from darekana.recognizer.engine import Recognizer
from darekana.recognizer.extra import ExtraCharacters
from darekana.recognizer.images import decode_image
from darekana.recognizer.results import Decision, Model

SERVER_PREFIX = "server:"  # label ids of server characters the bundle does not hold
SERVER_PLATFORM = "discord"  # the only platform whose places are servers


@dataclass(frozen=True)
class ServerCharacter:
    guild_id: str
    label: str  # the character's key (``darekana.recognizer.names.character_key``)
    name: str
    crops: tuple[bytes, ...]  # PNG face crops


def server_label(character: ServerCharacter, recognizer: Recognizer) -> Label:
    """The character's label: the bundle's own id when the bundle holds the character too, so that a face is
    answered once, by the nearer of the two centres; otherwise an id no bundle label has."""
    held = {label.id for label in recognizer.manifest.labels}
    label = character.label if character.label in held else SERVER_PREFIX + character.label
    return Label(label, character.name)


def build_extra(recognizer: Recognizer, characters: list[ServerCharacter]) -> ExtraCharacters:
    """One server's characters as extra characters of ``recognizer``'s bundle (``ImageError``, a
    ``ValueError``, for a crop that is not a picture; ``ValueError`` for a character without crops). Crops
    go through the hardened decoder: a moderator may attach anything."""
    labels = [server_label(c, recognizer) for c in characters]
    crops: list[Image.Image] = []
    owners: list[int] = []
    for i, character in enumerate(characters):
        crops += [decode_image(png, recognizer.limits) for png in character.crops]
        owners += [i] * len(character.crops)
    return recognizer.extra_characters(labels, crops, owners)


@dataclass(frozen=True)
class Galleries:
    """Every server's extra characters for one bundle's network."""

    network: str
    by_guild: dict[str, ExtraCharacters]

    @classmethod
    def build(cls, recognizer: Recognizer, characters: Iterable[ServerCharacter]) -> Galleries:
        per_guild: dict[str, list[ServerCharacter]] = defaultdict(list)
        for character in characters:
            per_guild[character.guild_id].append(character)
        extra = {guild: build_extra(recognizer, chars) for guild, chars in per_guild.items()}
        return cls(recognizer.network, extra)

    def of(self, guild_id: str | None) -> ExtraCharacters | None:
        """The characters a face asked about in ``guild_id`` may also be; None elsewhere (DMs, X, HTTP)."""
        return self.by_guild.get(guild_id) if guild_id is not None else None

    def rethresholded(self, recognizer: Recognizer) -> Galleries:
        """These galleries' centres with ``recognizer``'s thresholds (a bundle on the same network)."""
        return Galleries(self.network, {g: recognizer.rethreshold(e) for g, e in self.by_guild.items()})

    def with_guild(self, guild_id: str, extra: ExtraCharacters | None) -> Galleries:
        """These galleries with one server's rebuilt (None: it has none any more)."""
        rest = {g: e for g, e in self.by_guild.items() if g != guild_id}
        return Galleries(self.network, rest | ({guild_id: extra} if extra is not None else {}))


def is_server_answer(decision: Decision, extra: ExtraCharacters | None) -> bool:
    """Whether the face was named by one of the server's own characters' centres."""
    if extra is None or decision.model is not Model.CENTRES:
        return False
    return decision.label in {label.id for label in extra.labels}
