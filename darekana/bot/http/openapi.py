"""The OpenAPI 3.0 description of the HTTP API, served at ``/api/v1/openapi.json``. Every response a route
can give is described, errors included, so a client (or schemathesis, in the tests) can check each answer.
"""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}
STR, INT, NUM, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
NULLABLE_STR, NULLABLE_NUM = {"type": "string", "nullable": True}, {"type": "number", "nullable": True}


def _obj(required: dict[str, Any], **optional: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": {**required, **optional}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


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


CANDIDATE = _obj({"label": STR, "name": STR, "probability": NUM})
# the nearest face of the character named, from the bundle's gallery; null for unknown faces
EVIDENCE = {
    **_obj(
        {
            "label": STR,
            "source": {"type": "string", "enum": ["training", "enrolled"]},
            "similarity": NUM,
            "image": {"type": "string", "pattern": "^data:image/jpeg;base64,"},
        }
    ),
    "nullable": True,
}
FACE = _obj(
    {
        "id": INT,
        "number": INT,
        "box": {"type": "array", "items": INT, "minItems": 4, "maxItems": 4},
        "label": STR,
        "name": STR,
        "confidence": NUM,
        "verdict": {"type": "string", "enum": ["confident", "unsure", "unknown"]},
        "model": {"type": "string", "enum": ["primary", "fallback", "centres"]},
        "distance": NUM,
        "whole_picture": BOOL,
        "face_sure": BOOL,
        "detector_score": NULLABLE_NUM,
        "candidates": {"type": "array", "items": CANDIDATE},
        "evidence": EVIDENCE,
        "text": STR,
    }
)
REPLY = _obj(
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
ACK = _obj(
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
FEEDBACK = _obj(
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
GROUP = _obj(
    {
        "id": INT,
        "faces": INT,
        "face_ids": {"type": "array", "items": INT},
        "people": INT,
        "pictures": INT,
        "names": {"type": "array", "items": _obj({"label": STR, "name": STR, "count": INT})},
        "looks_like": {**_obj({"label": STR, "name": STR, "faces": INT}), "nullable": True},
        "samples": {"type": "array", "items": {"type": "string", "pattern": "^data:image/jpeg;base64,"}},
    }
)
ENROLLED = _obj(
    {
        "group_id": INT,
        "label": STR,
        "name": STR,
        "faces": INT,
        "bundle": STR,
        "gate": _obj(
            {"passed": BOOL, "reasons": {"type": "array", "items": STR}, "faces": INT, "deltas": {"type": "object"}}
        ),
        "text": STR,
    }
)
USER = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,16}$"}
ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}]
STATUSES = {"name": "status", "in": "query", "schema": STR, "description": "comma-separated review statuses"}
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
            "schemas": {"Error": _obj({"error": STR})},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/api/v1/whois": {
                "post": {
                    "summary": "every face of a picture, named",
                    "parameters": [
                        {"name": "annotate", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}}
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {"schema": _obj({"image": {"type": "string", "format": "binary"}})},
                            "application/json": {"schema": _obj({"url": STR})},
                        },
                    },
                    "responses": {"200": {"description": "the faces", **_json(REPLY)}, **_errors(400, 408, 429, 503)},
                }
            },
            "/api/v1/faces/{id}/corrections": {
                "post": {
                    "summary": "say who a face is",
                    "parameters": ID,
                    "requestBody": {"required": True, **_json(_obj({"label": STR}, user=USER))},
                    "responses": {"201": {"description": "stored", **_json(ACK)}, **_errors(400, 404, 408, 429)},
                }
            },
            "/api/v1/faces/{id}/confirmations": {
                "post": {
                    "summary": "say the answer was right",
                    "parameters": ID,
                    "requestBody": {"required": False, **_json(_obj({}, user=USER))},
                    "responses": {"201": {"description": "stored", **_json(ACK)}, **_errors(400, 404, 408, 429)},
                }
            },
            "/api/v1/characters": {
                "get": {
                    "summary": "the characters everyone can name",
                    "responses": {
                        "200": {
                            "description": "characters",
                            **_json(
                                {
                                    "type": "array",
                                    "items": _obj(
                                        {
                                            "label": STR,
                                            "name": STR,
                                            "aliases": {"type": "array", "items": STR},
                                            "in_bundle": BOOL,
                                        }
                                    ),
                                }
                            ),
                        },
                        **_errors(),
                    },
                }
            },
            "/api/v1/corrections": {
                "get": {
                    "summary": "corrections to review",
                    "security": MODERATOR,
                    "parameters": [STATUSES, {"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                    "responses": {
                        "200": {"description": "oldest first", **_json({"type": "array", "items": FEEDBACK})},
                        **_errors(400, 401, 403),
                    },
                }
            },
            "/api/v1/corrections/stats": {
                "get": {
                    "summary": "counts",
                    "security": MODERATOR,
                    "responses": {"200": {"description": "counts", **_json({"type": "object"})}, **_errors(401, 403)},
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
                    "requestBody": {"required": True, **_json(_obj({"status": STR}))},
                    "responses": {
                        "200": {"description": "reviewed", **_json(_obj({"id": INT, "status": STR}))},
                        **_errors(400, 401, 403, 404, 408),
                    },
                }
            },
            "/api/v1/corrections/groups": {
                "get": {
                    "summary": "faces of characters the bundle does not know, grouped by likeness, biggest first",
                    "security": MODERATOR,
                    "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                    "responses": {
                        "200": {"description": "groups", **_json({"type": "array", "items": GROUP})},
                        **_errors(400, 401, 403),
                    },
                }
            },
            "/api/v1/corrections/groups/{id}/enroll": {
                "post": {
                    "summary": "enroll a group as a character: a new bundle, gated, then promoted",
                    "security": MODERATOR,
                    "parameters": ID,
                    "requestBody": {"required": True, **_json(_obj({"name": STR}))},
                    "responses": {
                        "200": {"description": "enrolled and answering", **_json(ENROLLED)},
                        **_errors(400, 401, 403, 404, 408, 409),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "alive, and the bundle answering",
                    "responses": {
                        "200": {"description": "ok", **_json(_obj({"status": STR, "bundle": STR}))},
                        **_errors(),
                    },
                }
            },
        },
    }
