"""Corrections as a training set: a zip with one folder per character (the layout ``darekana train fit``
reads) and ``manifest.csv`` saying where each crop came from."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable

from .records import Feedback

MANIFEST_FIELDS = (
    "path",
    "label",
    "name",
    "kind",
    "status",
    "face_id",
    "correction_id",
    "predicted_label",
    "platform",
    "user_id",
    "created_at",
)


def dataset_zip(rows: Iterable[Feedback]) -> tuple[bytes, int]:
    """The zip's bytes and how many crops it holds. Crops of one source picture share a file-name prefix
    (``<sha256[:32]>-<correction id>.png``) so that ``train fit`` keeps them in one split; when two people
    gave one face different names, ``train fit`` drops the byte-identical crops filed under both."""
    buffer, table = io.BytesIO(), io.StringIO()
    writer = csv.DictWriter(table, MANIFEST_FIELDS)
    writer.writeheader()
    count = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
        for row in rows:
            if not row.crop_png:  # deleted past retention (or never stored): nothing to learn from
                continue
            path = f"{row.label}/{row.picture_sha256[:32]}-{row.id}.png"
            archive.writestr(path, row.crop_png)
            writer.writerow(
                {
                    "path": path,
                    "label": row.label,
                    "name": row.name,
                    "kind": row.kind,
                    "status": row.status,
                    "face_id": row.face_id,
                    "correction_id": row.id,
                    "predicted_label": row.predicted_label,
                    "platform": row.platform,
                    "user_id": row.user_id,
                    "created_at": row.created_at.isoformat(),
                }
            )
            count += 1
        archive.writestr("manifest.csv", table.getvalue())
    return buffer.getvalue(), count
