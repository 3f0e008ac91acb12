"""Tag files in three formats, chosen by the output's extension: JSON lines, CSV and Parquet.

A tag file is written whole, to a temporary file beside it that then replaces it (``os.replace``): whatever
stops a run, the file is the old one or the new one, never half of either. Each format reads back the rows
it was given (``tests/train/test_tagging.py``).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .records import COLUMNS

Row = dict[str, Any]


def check_format(path: Path) -> None:
    """Refuse an output whose format is unknown before any picture is read."""
    if path.suffix.lower() not in _FORMATS:
        raise ValueError(f"{path}: the output's extension says its format: {', '.join(_FORMATS)}")


def write_rows(path: Path, rows: list[Row]) -> None:
    check_format(path)
    with _replacing(path) as tmp:
        _FORMATS[path.suffix.lower()][0](tmp, rows)


def read_rows(path: Path) -> list[Row]:
    check_format(path)
    try:
        return _FORMATS[path.suffix.lower()][1](path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a tag file darekana can resume from: {exc}") from None


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_jsonl(path: Path, rows: list[Row]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[Row]:
    with path.open(encoding="utf-8") as fh:
        return [_complete(json.loads(line)) for line in fh if line.strip()]


def _write_csv(path: Path, rows: list[Row]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)


def _cell(value: Any) -> Any:
    """A value as CSV text: lists as JSON (spreadsheets show it, ``json.loads`` reads it), None as empty."""
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list) else value


def _read_csv(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [_complete({k: _uncell(COLUMNS[k], v) for k, v in row.items()}) for row in csv.DictReader(fh)]


def _uncell(kind: type, text: str) -> Any:
    if text == "":
        return None
    return json.loads(text) if kind is list else kind(text)


def _schema() -> Any:
    import pyarrow as pa

    candidate = pa.struct([("label", pa.string()), ("name", pa.string()), ("probability", pa.float64())])
    types = {str: pa.string(), int: pa.int64(), float: pa.float64()}
    special = {"box": pa.list_(pa.int64()), "candidates": pa.list_(candidate), "tags": pa.list_(pa.string())}
    return pa.schema([(name, special.get(name) or types[kind]) for name, kind in COLUMNS.items()])


def _write_parquet(path: Path, rows: list[Row]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows, schema=_schema()), path)


def _read_parquet(path: Path) -> list[Row]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow's own errors, for a file that is not Parquet
        raise ValueError(str(exc)) from None
    return [_complete(row) for row in table.to_pylist()]


def _complete(row: Row) -> Row:
    """A row with every column, in order: a file must hold the columns darekana writes."""
    missing = set(COLUMNS) - set(row)
    if missing:
        raise ValueError(f"a row lacks {', '.join(sorted(missing))}")
    return {k: row[k] for k in COLUMNS}


Writer = Callable[[Path, list[Row]], None]
Reader = Callable[[Path], list[Row]]
_FORMATS: dict[str, tuple[Writer, Reader]] = {
    ".jsonl": (_write_jsonl, _read_jsonl),
    ".csv": (_write_csv, _read_csv),
    ".parquet": (_write_parquet, _read_parquet),
}
