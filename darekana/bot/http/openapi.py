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
        403: "no token or a wrong one, or moderators disabled",
        404: "no such face, correction, group, or recognition with that delete token",
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
        # random, shown once (only its sha256 is stored): DELETE /api/v1/recognitions/{recognition_id} with
        # Authorization: Bearer <delete_token> deletes this recognition, its faces, crops and corrections
        "delete_token": {
            "type": "string",
            "description": "shown once: send it as Authorization: Bearer <delete_token> to "
            "DELETE /api/v1/recognitions/{recognition_id}, which deletes this answer's data",
        },
    },
    annotated_png={"type": "string", "format": "byte"},
)
DELETED = object_schema({"deleted": object_schema({"recognitions": INT, "faces": INT, "corrections": INT})})
PRIVACY = object_schema({"text": STR, "retention_days": INT, "guild_grace_days": INT})
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
INCLUDE_NSFW = {
    "name": "include_nsfw",
    "in": "query",
    "schema": {"type": "string", "enum": ["0", "1"]},
    "description": "1: include faces asked about in age-restricted (NSFW) channels, left out otherwise",
}
MODERATOR: list[dict[str, list[str]]] = [{"bearer": []}]
DELETE_TOKEN = MODERATOR  # the same scheme (Authorization: Bearer), with the answer's own token


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
        "paths": {**_asking(), **_privacy(), **_reviewing(), **_enrolling(), **_health()},
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


def _privacy() -> dict[str, Any]:
    """What is kept and for how long, and deleting one's own recognition with its delete token."""
    return {
        "/api/v1/recognitions/{id}": {
            "delete": {
                "summary": "delete a recognition, its faces, crops and corrections, with the delete_token its "
                "answer carried",
                "description": "Send Authorization: Bearer <delete_token> (the whois answer's). A missing token is "
                "a 403; a wrong one, or an id that does not exist, a 404: nothing is deleted.",
                "security": DELETE_TOKEN,
                "parameters": ID,
                "responses": {**_ok("200", "deleted: how many rows", DELETED), **_errors(403, 404)},
            }
        },
        "/api/v1/privacy": {
            "get": {
                "summary": "what is kept, for how long, and who sees it",
                "responses": {**_ok("200", "in plain words, with the days", PRIVACY), **_errors()},
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
                "parameters": [STATUSES, LIMIT, INCLUDE_NSFW],
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
                "parameters": [STATUSES, INCLUDE_NSFW],
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
                "parameters": [LIMIT, INCLUDE_NSFW],
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
