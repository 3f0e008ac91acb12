"""``darekana tag``: a collection's pictures into a tag file, resumable, with a progress bar and a summary."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from darekana.recognizer.bundle import bundle_version, load_manifest
from darekana.train.configs import TagConfig
from darekana.train.progress import counter, say

from .run import tag_chunks
from .sources import gather
from .summary import Summary
from .tagfile import TagFile
from .work import Status


def run(args: argparse.Namespace) -> int:
    config = TagConfig(workers=args.workers, chunk=args.chunk, top_k=args.top_k, whole_picture=args.whole_picture)
    bundle = Path(args.bundle).resolve()
    version = bundle_version(bundle, load_manifest(bundle))
    out = Path(args.out)
    tagfile = TagFile(out)
    summary = Summary()
    try:
        sources = gather(args.paths, exclude=(out, tagfile.journal.path))
        for problem in sources.problems:
            say(f"skipped {problem.picture}: {problem.reason}", sys.stderr)
        summary.pictures = summary.failed = len(sources.problems)
        bar = counter(len(sources.pictures), "tagging", unit="picture")
        try:
            for chunk in tag_chunks(sources.pictures, bundle, config, args.ray, tagfile.known(version)):
                tagfile.add(chunk)
                for outcome in chunk:
                    summary.add(outcome)
                    if outcome.status is Status.FAILED:
                        say(f"skipped {outcome.picture}: {outcome.reason}", sys.stderr)
                bar.update(len(chunk))
        except (KeyboardInterrupt, RuntimeError) as exc:
            bar.close()
            tagfile.save()
            stopped = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
            say(f"darekana: {stopped}; {out} holds the {len(tagfile)} pictures tagged so far", sys.stderr)
            return 130 if isinstance(exc, KeyboardInterrupt) else 1
        bar.close()
        tagfile.save()
    finally:
        tagfile.close()
    print(json.dumps(summary.as_dict(), ensure_ascii=False) if args.json else "\n".join(summary.lines()))
    return 0
