"""``darekana tag``: a collection's pictures into a tag file, resumable, with a progress bar and a summary."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from darekana.tag.config import TagConfig

from .common import Commands, bundle_option, chosen_bundle

if TYPE_CHECKING:
    from darekana.tag.sources import Picture
    from darekana.tag.summary import Summary
    from darekana.tag.tagfile import TagFile


def add_commands(commands: Commands) -> None:
    tag = TagConfig()
    p = commands.add_parser(
        "tag",
        help="name the characters of a whole collection into a tag file (resumable; parallel; Ray)",
        description="Pictures already in OUT from the same bytes and bundle are skipped, so the same command "
        "resumes an interrupted run. See TagConfig for the defaults.",
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="pictures, folders (recursively), or lists of paths (.txt, or - for stdin)",
    )
    p.add_argument("--out", required=True, metavar="OUT", help="tag file: .jsonl, .csv or .parquet")
    bundle_option(p)
    p.add_argument("--workers", type=int, default=tag.workers, help="processes, or Ray actors (default: one a core)")
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="run on Ray: 'local' starts a cluster here; an address (or none: auto) joins one",
    )
    p.add_argument("--chunk", type=int, default=tag.chunk, help="pictures a worker takes at once")
    p.add_argument("--top-k", type=int, default=tag.top_k)
    p.add_argument(
        "--whole-picture",
        action="store_true",
        help="classify a picture with no face found as one face (folders of face crops)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(run=run_tag)


def run_tag(args: argparse.Namespace) -> int:
    from darekana.progress import say
    from darekana.recognizer.bundle import bundle_version, load_manifest
    from darekana.tag.sources import gather
    from darekana.tag.summary import Summary
    from darekana.tag.tagfile import TagFile

    config = TagConfig(workers=args.workers, chunk=args.chunk, top_k=args.top_k, whole_picture=args.whole_picture)
    bundle = chosen_bundle(args).resolve()
    version = bundle_version(bundle, load_manifest(bundle))
    out = Path(args.out)
    tagfile = TagFile(out)
    summary = Summary()
    try:
        sources = gather(args.paths, exclude=(out, tagfile.journal.path))
        for problem in sources.problems:
            say(f"skipped {problem.picture}: {problem.reason}", sys.stderr)
        summary.pictures = summary.failed = len(sources.problems)
        stopped = _tag_all(sources.pictures, bundle, config, args.ray, tagfile.known(version), tagfile, summary)
    finally:
        tagfile.close()
    if stopped is not None:
        status, why = stopped
        say(f"darekana: {why}; {out} holds the {len(tagfile)} pictures tagged so far", sys.stderr)
        return status
    print(json.dumps(summary.as_dict(), ensure_ascii=False) if args.json else "\n".join(summary.lines()))
    return 0


def _tag_all(
    pictures: list[Picture],
    bundle: Path,
    config: TagConfig,
    ray: str | None,
    done: dict[str, str],
    tagfile: TagFile,
    summary: Summary,
) -> tuple[int, str] | None:
    """Tags ``pictures`` (but those ``done``) into ``tagfile``, saved however it ends; (exit status, why)
    when stopped before the end."""
    from darekana.progress import counter, say
    from darekana.tag.run import tag_chunks
    from darekana.tag.work import Status

    bar = counter(len(pictures), "tagging", unit="picture")
    try:
        for chunk in tag_chunks(pictures, bundle, config, ray, done):
            tagfile.add(chunk)
            for outcome in chunk:
                summary.add(outcome)
                if outcome.status is Status.FAILED:
                    say(f"skipped {outcome.picture}: {outcome.reason}", sys.stderr)
            bar.update(len(chunk))
    except KeyboardInterrupt:
        return 130, "interrupted"
    except RuntimeError as exc:
        return 1, str(exc)
    finally:
        bar.close()
        tagfile.save()
    return None
