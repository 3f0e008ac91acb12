"""Decoding untrusted pictures in child processes, so that a budget can really stop one.

A decode that has started cannot be interrupted in its own thread: libjpeg, libpng and libwebp run to the
end. Here each decode runs in a small child process (Pillow and nothing else) that is killed when the time
is up, and started again for the next picture. A picture that crashes a native decoder takes down only its
child, and the large transient buffers of a 40 MP decode live and die there too: what comes back is the
picture read at ``DecodeLimits.max_side`` at most. Pictures of more than ``large_pixels`` decode one at a
time (a 40 MP one holds 160 MB while it decodes; two at once would double the peak), the wait counted in
their time::

    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.new("RGB", (4000, 1000), (200, 30, 30)).save(buf, "PNG")
    >>> with Decoders(1) as decoders:
    ...     image = decoders.decode(buf.getvalue(), timeout=10)
    >>> image.size, image.info[ORIGINAL_SIZE]
    ((2048, 512), (4000, 1000))
"""

from __future__ import annotations

import ctypes
import multiprocessing
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from PIL import Image

from .images import ORIGINAL_SIZE, DecodeLimits, ImageError, TooSlow, decode_image

__all__ = ["Decoders"]

# forkserver: a fork of a clean process that has imported Pillow already, fast to start (tens of ms) and safe
# from the threads of the parent (ONNX Runtime, asyncio's executors), which a plain fork is not.
_CONTEXT = multiprocessing.get_context("forkserver")
_CRASHED = "this picture could not be read (its decoder stopped)"
_M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)


LARGE_PIXELS = 12_000_000  # 48 MB of pixels (Pillow keeps RGB in 4 bytes): more waits for the others


class Decoders:
    """``count`` child processes that decode pictures with ``limits``; :meth:`decode` may be called from that
    many threads at once."""

    def __init__(self, count: int, limits: DecodeLimits = DecodeLimits(), large_pixels: int = LARGE_PIXELS):
        _CONTEXT.set_forkserver_preload([__name__])
        self.limits, self.large_pixels = limits, large_pixels
        self._idle: queue.SimpleQueue[_Child | None] = queue.SimpleQueue()
        for _ in range(count):
            self._idle.put(None)  # started when first needed
        self._count = count
        self._large = threading.Lock()  # held in this process, so a killed child cannot keep it

    def decode(self, data: bytes, timeout: float) -> Image.Image:
        """The picture in ``data``, as :func:`darekana.recognizer.images.decode_image` reads it.

        Raises :class:`TooSlow` when it takes longer than ``timeout`` seconds (the child is killed), and
        :class:`ImageError` for a picture that is not usable or that made the child die.
        """
        if timeout <= 0:  # spent already (waiting in a queue): no child is started, or killed, for nothing
            raise TooSlow()
        child = self._idle.get()
        try:
            if child is None or not child.alive():
                child = _Child(self.limits)
            return child.decode(data, time.monotonic() + timeout, self._admit)
        except (TooSlow, _Crashed) as exc:
            if child is not None:
                child.kill()
            child = None
            raise exc.error() if isinstance(exc, _Crashed) else exc from None
        finally:
            self._idle.put(child)

    def start(self) -> None:
        """Starts the children not running yet, so that the first pictures do not wait for them."""
        children = [self._idle.get() for _ in range(self._count)]
        for child in children:
            self._idle.put(child if child is not None and child.alive() else _Child(self.limits))

    @contextmanager
    def _admit(self, pixels: int, deadline: float) -> Iterator[None]:
        if pixels <= self.large_pixels:
            yield
        elif not self._large.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise TooSlow()
        else:
            try:
                yield
            finally:
                self._large.release()

    def close(self) -> None:
        for _ in range(self._count):
            child = self._idle.get()
            if child is not None:
                child.kill()
            self._idle.put(None)

    def __enter__(self) -> Decoders:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class _Crashed(Exception):
    def error(self) -> ImageError:
        return ImageError(_CRASHED)


class _Child:
    def __init__(self, limits: DecodeLimits):
        self.conn, theirs = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=_serve, args=(theirs, limits), name="darekana-decoder", daemon=True)
        self.process.start()
        theirs.close()

    def alive(self) -> bool:
        return self.process.is_alive()

    def decode(self, data: bytes, deadline: float, admit: Callable[[int, float], ContextManager[None]]) -> Image.Image:
        try:
            self.conn.send_bytes(data)
            answer = self._answer(deadline)
            if answer[0] == "pixels":  # the header is read: may it decode that many?
                with admit(answer[1], deadline):
                    self.conn.send(True)
                    answer = self._answer(deadline)
            if answer[0] == "error":
                raise ImageError(answer[1])
            _, size, original = answer
            image = Image.frombytes("RGB", size, self.conn.recv_bytes())
        except (EOFError, OSError) as exc:  # the child died (a broken pipe, or its end closed)
            raise _Crashed() from exc
        if original is not None:
            image.info[ORIGINAL_SIZE] = original
        return image

    def _answer(self, deadline: float) -> tuple[Any, ...]:
        if not self.conn.poll(max(0.0, deadline - time.monotonic())):
            raise TooSlow()
        answer: tuple[Any, ...] = self.conn.recv()
        return answer

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.process.close()
        self.conn.close()


def _serve(conn: Connection, limits: DecodeLimits) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the service, which stops its children
    _return_freed_memory()
    while True:
        try:
            data = conn.recv_bytes()
        except EOFError:  # the parent closed its end, or died
            return
        try:
            image = decode_image(data, limits, admit=lambda pixels: _ask(conn, pixels))
        except ImageError as exc:
            conn.send(("error", str(exc)))
            continue
        conn.send(("ok", image.size, image.info.get(ORIGINAL_SIZE)))
        conn.send_bytes(image.tobytes())


def _ask(conn: Connection, pixels: int) -> None:
    conn.send(("pixels", pixels))
    conn.recv()  # the parent answers when it may go on, or kills this process


def _return_freed_memory() -> None:
    # glibc raises its mmap threshold after large blocks are freed, and serves the next ones from a heap it
    # does not trim: a child would then keep the 160 MB of its largest decode for good. A fixed threshold keeps
    # every large block mmapped, so it goes back to the system when the picture is freed.
    try:
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    except (AttributeError, OSError):  # not glibc: nothing to do
        pass
