"""The OpenAPI 3.0 description of the HTTP API, served at ``/api/v1/openapi.json``. Every response a route
can give is described, errors included, so a client (or schemathesis, in the tests) can check each answer.
"""

from __future__ import annotations

from typing import Any

from darekana.recognizer.results import BOOL, FACE_SCHEMA, INT, JPEG_DATA_URL, STR, object_schema

ERROR = {"$ref": "#/components/schemas/Error"}
NULLABLE_STR = {"type": "string", "nullable": True}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, **_json(schema)}


def _ok(status: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {status: {"description": description, **_json(schema)}}


def _errors(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "bad input",
        401: "no moderator token",
        403: "wrong token, or moderators disabled",
        404: "no such face, correction or group",
        405: "method not allowed",
        408: "the body was too slow",
        409: "refused: another enrolment is under way, or the group or its bundle did not pass",
        413: "too large",
        429: "rate limited",
        500: "internal error",
        503: "busy",
    }
    return {str(s): {"description": reasons[s], **_json(ERROR)} for s in (*statuses, 405, 413, 500)}


# a face as the recognizer writes it (``Face.to_dict``), with the ids and text the bot adds
FACE = object_schema({"id": INT, "number": INT, **FACE_SCHEMA["properties"], "text": STR})
REPLY = object_schema(
    {
        "recognition_id": INT,
        "faces": {"type": "array", "items": FACE},
        "text": STR,
        "faces_detected": INT,
        "width": INT,
        "height": INT,
        "bundle": STR,
    },
    annotated_png={"type": "string", "format": "byte"},
)
ACK = object_schema(
    {
        "id": INT,
        "face_id": INT,
        "kind": {"type": "string", "enum": ["correction", "confirmation"]},
        "label": STR,
        "name": STR,
        "known": BOOL,
        "text": STR,
    }
)
FEEDBACK = object_schema(
    {
        "id": INT,
        "face_id": INT,
        "kind": STR,
        "label": STR,
        "name": STR,
        "predicted_label": STR,
        "predicted_name": STR,
        "platform": STR,
        "user_id": STR,
        "created_at": STR,
        "status": STR,
        "reviewer": NULLABLE_STR,
        "picture_sha256": STR,
    }
)
GROUP = object_schema(
    {
        "id": INT,
        "faces": INT,
        "face_ids": {"type": "array", "items": INT},
        "people": INT,
        "pictures": INT,
        "names": {"type": "array", "items": object_schema({"label": STR, "name": STR, "count": INT})},
        "looks_like": {**object_schema({"label": STR, "name": STR, "faces": INT}), "nullable": True},
        "samples": {"type": "array", "items": JPEG_DATA_URL},
    }
)
ENROLLED = object_schema(
    {
        "group_id": INT,
        "label": STR,
        "name": STR,
        "faces": INT,
        "bundle": STR,
        "gate": object_schema(
            {"passed": BOOL, "reasons": {"type": "array", "items": STR}, "faces": INT, "deltas": {"type": "object"}}
        ),
        "text": STR,
    }
)
CHARACTER = object_schema({"label": STR, "name": STR, "aliases": {"type": "array", "items": STR}, "in_bundle": BOOL})
USER = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,16}$"}
ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}]
STATUSES = {"name": "status", "in": "query", "schema": STR, "description": "comma-separated review statuses"}
LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer"}}
MODERATOR: list[dict[str, list[str]]] = [{"bearer": []}]


def spec(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "darekana",
            "version": version,
            "description": "Names the anime characters in a picture; corrections make it better.",
        },
        "components": {
            "schemas": {"Error": object_schema({"error": STR})},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {**_asking(), **_reviewing(), **_enrolling(), **_health()},
    }


def _asking() -> dict[str, Any]:
    """What everyone may do: ask who is in a picture, say who a face is or that the answer was right, and
    list the characters."""
    return {
        "/api/v1/whois": {
            "post": {
                "summary": "every face of a picture, named",
                "parameters": [{"name": "annotate", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": object_schema({"image": {"type": "string", "format": "binary"}})
                        },
                        "application/json": {"schema": object_schema({"url": STR})},
                    },
                },
                "responses": {**_ok("200", "the faces", REPLY), **_errors(400, 408, 429, 503)},
            }
        },
        "/api/v1/faces/{id}/corrections": {
            "post": _feedback("say who a face is", _body(object_schema({"label": STR}, user=USER)))
        },
        "/api/v1/faces/{id}/confirmations": {
            "post": _feedback("say the answer was right", _body(object_schema({}, user=USER), required=False))
        },
        "/api/v1/characters": {
            "get": {
                "summary": "the characters everyone can name",
                "responses": {**_ok("200", "characters", {"type": "array", "items": CHARACTER}), **_errors()},
            }
        },
    }


def _feedback(summary: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": ID,
        "requestBody": body,
        "responses": {**_ok("201", "stored", ACK), **_errors(400, 404, 408, 429)},
    }


def _reviewing() -> dict[str, Any]:
    """Moderators: what people said, its counts, the reviewed crops as a training set, and the review."""
    return {
        "/api/v1/corrections": {
            "get": {
                "summary": "corrections to review",
                "security": MODERATOR,
                "parameters": [STATUSES, LIMIT],
                "responses": {
                    **_ok("200", "oldest first", {"type": "array", "items": FEEDBACK}),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/v1/corrections/stats": {
            "get": {
                "summary": "counts",
                "security": MODERATOR,
                "responses": {**_ok("200", "counts", {"type": "object"}), **_errors(401, 403)},
            }
        },
        "/api/v1/corrections/export": {
            "get": {
                "summary": "reviewed crops as a training zip",
                "security": MODERATOR,
                "parameters": [STATUSES],
                "responses": {
                    "200": {
                        "description": "zip",
                        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/v1/corrections/{id}/review": {
            "post": {
                "summary": "accept or reject a correction",
                "security": MODERATOR,
                "parameters": ID,
                "requestBody": _body(object_schema({"status": STR})),
                "responses": {
                    **_ok("200", "reviewed", object_schema({"id": INT, "status": STR})),
                    **_errors(400, 401, 403, 404, 408),
                },
            }
        },
    }


def _enrolling() -> dict[str, Any]:
    """Moderators: faces of characters the bundle does not know, grouped, and a group enrolled."""
    return {
        "/api/v1/corrections/groups": {
            "get": {
                "summary": "faces of characters the bundle does not know, grouped by likeness, biggest first",
                "security": MODERATOR,
                "parameters": [LIMIT],
                "responses": {
                    **_ok("200", "groups", {"type": "array", "items": GROUP}),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/v1/corrections/groups/{id}/enroll": {
            "post": {
                "summary": "enroll a group as a character: a new bundle, gated, then promoted",
                "security": MODERATOR,
                "parameters": ID,
                "requestBody": _body(object_schema({"name": STR})),
                "responses": {
                    **_ok("200", "enrolled and answering", ENROLLED),
                    **_errors(400, 401, 403, 404, 408, 409),
                },
            }
        },
    }


def _health() -> dict[str, Any]:
    return {
        "/healthz": {
            "get": {
                "summary": "alive, and the bundle answering",
                "responses": {**_ok("200", "ok", object_schema({"status": STR, "bundle": STR})), **_errors()},
            }
        }
    }
