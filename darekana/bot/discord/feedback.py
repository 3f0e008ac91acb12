"""Right / Wrong under darekana's answers on Discord, and what follows them.

* "Right": one face is confirmed at once; with several, a menu asks which were right (any number).
* "Wrong": with several faces, a menu asks which one; then a menu of that face's runner-up guesses plus
  "Other…", which opens a form to type the name. The correction goes to :meth:`Service.correct`.

Each component's custom_id carries the ids it acts on (``darekana:right:42`` for recognition 42) and the
faces are asked of the service when it is pressed, so components keep working after a restart and nothing
about them is held in memory.
"""

from __future__ import annotations

import re
from typing import Any, cast

import discord
from discord import ui

from darekana.recognizer.results import Verdict

from ..errors import NotFound
from ..records import StoredFace
from .client import AppCommand, Component, Interaction
from .replies import answering, interaction_place, report, requester, yes_no

OTHER = ":other"  # the name menu's "Other…" value; a colon never appears in a character label
MAX_OPTIONS = 25  # Discord's limit for a select menu
MAX_LABEL = 100  # Discord's limit for an option's label and value


def answer_view(recognition_id: int) -> ui.View:
    view = ui.View(timeout=None)
    view.add_item(AnswerButton("right", recognition_id))
    view.add_item(AnswerButton("wrong", recognition_id))
    return view


class AnswerButton(ui.DynamicItem[ui.Button], template=r"darekana:(?P<verdict>right|wrong):(?P<recognition>\d+)"):
    def __init__(self, verdict: str, recognition_id: int) -> None:
        super().__init__(yes_no(verdict == "right", ("Right", "Wrong"), f"darekana:{verdict}:{recognition_id}"))
        self.verdict, self.recognition_id = verdict, recognition_id

    @classmethod
    async def from_custom_id(cls, interaction: Interaction, item: ui.Item[Any], match: re.Match[str]) -> AnswerButton:
        return cls(match["verdict"], int(match["recognition"]))

    async def callback(self, interaction: Interaction) -> None:
        async with answering(interaction):
            where = interaction_place(interaction)
            faces = await interaction.client.service.faces_of(self.recognition_id, where)
            if not faces:
                raise NotFound("I no longer have that answer.")
            if len(faces) > 1:
                question = "Which faces did I get right?" if self.verdict == "right" else "Which face did I get wrong?"
                await interaction.response.send_message(
                    question, ephemeral=True, view=_one(FacePicker.build(self.verdict, self.recognition_id, faces))
                )
            elif self.verdict == "right":
                ack = await interaction.client.service.confirm(faces[0].id, requester(interaction.user), where)
                await interaction.response.send_message(ack.text, ephemeral=True)
            else:
                await interaction.response.send_message(
                    _who_then(faces[0], alone=True), ephemeral=True, view=_one(NamePicker.build(faces[0]))
                )


class FacePicker(ui.DynamicItem[ui.Select], template=r"darekana:faces:(?P<verdict>right|wrong):(?P<recognition>\d+)"):
    """Which of several faces: any number for "Right", one for "Wrong"."""

    def __init__(self, select: ui.Select, verdict: str) -> None:
        super().__init__(select)
        self.verdict = verdict

    @classmethod
    def build(cls, verdict: str, recognition_id: int, faces: list[StoredFace]) -> FacePicker:
        options = [discord.SelectOption(label=_face_label(face), value=str(face.id)) for face in faces[:MAX_OPTIONS]]
        select: ui.Select[ui.View] = ui.Select(
            custom_id=f"darekana:faces:{verdict}:{recognition_id}",
            options=options,
            max_values=len(options) if verdict == "right" else 1,
            placeholder="faces I got right" if verdict == "right" else "the face I got wrong",
        )
        return cls(select, verdict)

    @classmethod
    async def from_custom_id(cls, interaction: Interaction, item: ui.Item[Any], match: re.Match[str]) -> FacePicker:
        return cls(cast(ui.Select, item), match["verdict"])

    async def callback(self, interaction: Interaction) -> None:
        async with answering(interaction):
            service, who, where = (
                interaction.client.service,
                requester(interaction.user),
                interaction_place(interaction),
            )
            face_ids = [int(value) for value in self.item.values]
            if self.verdict == "right":
                acks = [await service.confirm(face_id, who, where) for face_id in face_ids]
                await interaction.response.edit_message(content="\n".join(ack.text for ack in acks), view=None)
            else:
                face = await service.face(face_ids[0], where)
                await interaction.response.edit_message(
                    content=_who_then(face, alone=False), view=_one(NamePicker.build(face))
                )


class NamePicker(ui.DynamicItem[ui.Select], template=r"darekana:name:(?P<face>\d+)"):
    """The face's runner-up guesses, and "Other…" to type a name."""

    def __init__(self, select: ui.Select, face_id: int) -> None:
        super().__init__(select)
        self.face_id = face_id

    @classmethod
    def build(cls, face: StoredFace) -> NamePicker:
        # A face I called unknown was never named, so its top guess is still a fair option.
        guesses = [c for c in face.candidates if face.verdict == Verdict.UNKNOWN or c["label"] != face.label]
        options = [
            discord.SelectOption(
                label=c["name"][:MAX_LABEL],
                value=c["label"][:MAX_LABEL],
                description=f"my guess: {c['probability']:.0%}",
            )
            for c in guesses[: MAX_OPTIONS - 1]
        ]
        options.append(discord.SelectOption(label="Other…", value=OTHER, description="type the name"))
        return cls(ui.Select(custom_id=f"darekana:name:{face.id}", options=options, placeholder="who it is"), face.id)

    @classmethod
    async def from_custom_id(cls, interaction: Interaction, item: ui.Item[Any], match: re.Match[str]) -> NamePicker:
        return cls(cast(ui.Select, item), int(match["face"]))

    async def callback(self, interaction: Interaction) -> None:
        async with answering(interaction):
            chosen = self.item.values[0]
            if chosen == OTHER:
                await interaction.response.send_modal(NameForm(self.face_id))
                return
            who, where = requester(interaction.user), interaction_place(interaction)
            ack = await interaction.client.service.correct(self.face_id, chosen, who, where)
            await interaction.response.edit_message(content=ack.text, view=None)


class NameForm(ui.Modal, title="Who is it?"):
    name: ui.TextInput[NameForm] = ui.TextInput(
        label="Character name", placeholder="e.g. Hatsune Miku", max_length=MAX_LABEL
    )

    def __init__(self, face_id: int) -> None:
        super().__init__(timeout=600)  # a dismissed form is forgotten after 10 minutes
        self.face_id = face_id

    async def on_submit(self, interaction: Interaction) -> None:
        who, where = requester(interaction.user), interaction_place(interaction)
        ack = await interaction.client.service.correct(self.face_id, self.name.value, who, where)
        await interaction.response.send_message(ack.text, ephemeral=True)

    async def on_error(self, interaction: Interaction, error: Exception) -> None:
        await report(interaction, error)


def _one(item: ui.Item[Any]) -> ui.View:
    view = ui.View(timeout=None)
    view.add_item(item)
    return view


def _face_label(face: StoredFace) -> str:
    said = "a character I don't know" if face.verdict == Verdict.UNKNOWN else face.name
    return f"{face.number}. {said}"[:MAX_LABEL]


def _who_then(face: StoredFace, alone: bool) -> str:
    which = "it" if alone else f"face {face.number}"
    return f"Who is {which} then? Pick a name, or Other… to type it."


COMMANDS: tuple[AppCommand, ...] = ()
ITEMS: tuple[Component, ...] = (AnswerButton, FacePicker, NamePicker)
