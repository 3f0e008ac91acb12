"""Errors the service raises for people, not programmers: each message can be shown as it is, and each
kind maps to one HTTP status so every adapter answers the same way."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400

    @property
    def message(self) -> str:
        return str(self)


class BadRequest(ServiceError):
    status = 400


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class RequestTimeout(ServiceError):
    status = 408


class TooLarge(ServiceError):
    status = 413


class RateLimited(ServiceError):
    status = 429

    def __init__(self, retry_after: float):
        self.retry_after = retry_after
        super().__init__(f"slow down a little: try again in {max(1, round(retry_after))} s")


class Busy(ServiceError):
    status = 503

    def __init__(self) -> None:
        super().__init__("busy right now: too many pictures are waiting, try again in a minute")


class Conflict(ServiceError):
    """The action cannot be done in the state things are in (another one under way, a gate refused it)."""

    status = 409
