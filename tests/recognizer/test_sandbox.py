"""Tests for darekana.recognizer.sandbox: real pictures decoded in child processes, a slow one stopped on
time, a child killed mid-decode, and the pool still answering after each."""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import signal
import threading
import time

import pytest
from PIL import Image

from darekana.recognizer.images import ImageError, TooSlow, decode_image
from darekana.recognizer.sandbox import Decoders

from pictures import picture_bytes, slow_jpeg

CROP = picture_bytes("animeface-10/000_hatsune_miku/face_128_326_108.png")
PICTURE = picture_bytes("paperface-heads/pictures/236.jpg")


@pytest.fixture
def decoders():
    with Decoders(2) as pool:
        yield pool


def _children() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == "darekana-decoder"]


def _pids() -> set[int | None]:
    return {p.pid for p in _children()}


def test_pictures_come_back_as_decode_image_reads_them(decoders: Decoders) -> None:
    for data in (CROP, PICTURE):
        image = decoders.decode(data, timeout=10)
        expected = decode_image(data)
        assert image.mode == "RGB" and image.size == expected.size and image.tobytes() == expected.tobytes()


def test_a_bad_picture_is_the_same_error_and_the_child_lives_on(decoders: Decoders) -> None:
    decoders.decode(CROP, timeout=10)
    before = _pids()
    for data in (b"hello, world", CROP[:200]):
        with pytest.raises(ImageError) as caught:
            decoders.decode(data, timeout=10)
        with pytest.raises(ImageError) as direct:
            decode_image(data)
        assert str(caught.value) == str(direct.value)
    decoders.decode(CROP, timeout=10)
    assert before <= _pids()  # none was started again


def test_a_slow_picture_is_stopped_on_time_and_the_next_one_reads(decoders: Decoders) -> None:
    slow = slow_jpeg()
    started = time.monotonic()
    with pytest.raises(TooSlow, match="takes too long to read"):
        decoders.decode(slow, timeout=0.1)
    assert time.monotonic() - started < 0.5  # its decode alone takes over half a second
    assert decoders.decode(CROP, timeout=10).size == Image.open(io.BytesIO(CROP)).size
    assert decoders.decode(slow, timeout=30).size == (2048, 2048)  # given time, it reads


def test_a_child_that_dies_mid_decode_is_an_error_for_that_picture_only(decoders: Decoders) -> None:
    decoders.decode(CROP, timeout=10)
    slow = slow_jpeg()
    outcome: list[BaseException] = []

    def decode() -> None:
        try:
            decoders.decode(slow, timeout=30)
        except ImageError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=decode)
    thread.start()
    time.sleep(0.2)
    killed = _children()
    for child in killed:
        os.kill(child.pid, signal.SIGSEGV)  # as a native decoder's crash would
    thread.join(10)
    assert [str(e) for e in outcome] == ["this picture could not be read (its decoder stopped)"]
    for child in killed:  # an idle child killed too is gone before the next picture, however loaded the machine
        with contextlib.suppress(ValueError):  # "closed": the pool reaped it already
            child.join(10)
    assert decoders.decode(CROP, timeout=10).size == Image.open(io.BytesIO(CROP)).size


def test_as_many_pictures_decode_at_once_as_there_are_children(decoders: Decoders) -> None:
    results: list[tuple[int, int]] = []

    def decode() -> None:
        results.append(decoders.decode(PICTURE, timeout=30).size)

    threads = [threading.Thread(target=decode) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [decode_image(PICTURE).size] * 4
    assert len(_children()) == 2


def test_closing_stops_the_children() -> None:
    pool = Decoders(2)
    pool.decode(CROP, timeout=10)
    assert _children()
    pool.close()
    assert not _children()


def test_large_pictures_decode_one_at_a_time_and_small_ones_pass() -> None:
    with Decoders(3, large_pixels=500_000) as pool:  # PICTURE is 0.8 MP
        slow = slow_jpeg()  # 16 MP, for over half a second
        outcome: list[tuple[int, int]] = []
        first = threading.Thread(target=lambda: outcome.append(pool.decode(slow, timeout=30).size))
        first.start()
        deadline = time.monotonic() + 10
        while not pool._large.locked() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert pool._large.locked()  # the slow one is decoding
        assert pool.decode(CROP, timeout=10).size == Image.open(io.BytesIO(CROP)).size
        with pytest.raises(TooSlow):  # a second large one waits its turn, and its time ran out waiting
            pool.decode(PICTURE, timeout=0.1)
        first.join(30)
        assert outcome == [(2048, 2048)] and not pool._large.locked()
        assert pool.decode(PICTURE, timeout=10).size == decode_image(PICTURE).size


def test_started_children_answer_at_once_and_a_spent_budget_starts_none() -> None:
    with Decoders(2) as pool:
        with pytest.raises(TooSlow):
            pool.decode(CROP, timeout=0)
        assert not _children()
        pool.start()
        assert len(_children()) == 2
        pids = _pids()
        pool.decode(CROP, timeout=10)
        assert _pids() == pids
