"""The front page and the manual hold together: every relative link and image of README.md and docs/*.md
names a file of the repository, every ``#anchor`` a heading of the page it points into (GitHub's slugs), and
README.md stays a front page. External links are not fetched."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MOST_LINES = 150

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# The target of every inline link or image, ``[text](target "title")``: nested ones (an image inside a link)
# yield both targets.
_INLINE = re.compile(r"\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
_HTML = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _prose(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of ``text`` outside fenced code blocks, inline code spans blanked."""
    fence = ""
    for number, line in enumerate(text.splitlines(), 1):
        opened = _FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = ""
            continue
        if opened:
            fence = opened.group(1)
            continue
        yield number, _CODE_SPAN.sub(lambda span: " " * len(span.group(0)), line)


def links(text: str) -> Iterator[tuple[int, str]]:
    """(line number, target) of every link and image of the Markdown ``text``.

    >>> list(links('[a](b.md#c) ![d](e.png "f") `[g](h)` [i]: <j k.md>'))
    [(1, 'b.md#c'), (1, 'e.png')]
    >>> list(links("[x]: y.md"))
    [(1, 'y.md')]
    """
    for number, line in _prose(text):
        found = [m.group(1) for m in _INLINE.finditer(line)] + [m.group(1) for m in _HTML.finditer(line)]
        reference = _REFERENCE.match(line)
        if reference:
            found.append(reference.group(1))
        for target in found:
            yield number, target.removeprefix("<").removesuffix(">")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: its rendered words lower-cased, punctuation other than '-' and '_'
    dropped, each space a '-'.

    >>> slug("Updating the model without downtime")
    'updating-the-model-without-downtime'
    >>> slug("`darekana tag` on a [Ray](https://ray.io) cluster, 2 cores!")
    'darekana-tag-on-a-ray-cluster-2-cores'
    >>> slug("The base network (issue 26)")
    'the-base-network-issue-26'
    """
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link or image: its text
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags
    text = "".join(c for c in text.lower() if c in " -_" or unicodedata.category(c)[0] in "LMN")
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of the Markdown ``text``'s headings; a repeated one gets -1, -2, ... as on GitHub.

    >>> sorted(anchors("# Notes\\n## Notes\\n```\\n# not a heading\\n```\\n"))
    ['notes', 'notes-1']
    """
    seen: dict[str, int] = {}
    found = set()
    for _, line in _prose(text):
        heading = _HEADING.match(line)
        if not heading:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """What is wrong with ``page``'s relative links and anchors, one message each, naming the page and the
    link; empty when nothing is."""
    problems = []
    name = page.relative_to(root).as_posix()
    for number, target in links(page.read_text(encoding="utf-8")):
        if _SCHEME.match(target) or target.startswith("//"):
            continue  # http(s) and mailto: not fetched
        where = f"{name}:{number}: link {target!r}"
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.is_relative_to(root.resolve()):
            problems.append(f"{where} leads out of the repository")
        elif not destination.exists():
            problems.append(f"{where}: no file {destination.relative_to(root.resolve()).as_posix()}")
        elif anchor and destination.suffix == ".md" and destination.is_file():
            if anchor not in anchors(destination.read_text(encoding="utf-8")):
                problems.append(f"{where}: no heading with anchor #{anchor} in {destination.name}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_links_and_anchors_resolve(page: Path):
    problems = broken_links(page)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_check_finds_broken_links(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# A page\n\n## Two words\n")
    (tmp_path / "README.md").write_text(
        "# Front\n\n"
        "[fine](docs/page.md#two-words) [also](#front) [web](https://example.com/x.md#nowhere)\n"
        "[missing](docs/none.md) ![picture](docs/none.png)\n"
        "[no heading](docs/page.md#three-words) [here neither](#back)\n"
        "[outside](../elsewhere.md)\n"
        "```\n[in code](docs/none.md)\n```\n"
    )
    assert broken_links(tmp_path / "README.md", tmp_path) == [
        "README.md:4: link 'docs/none.md': no file docs/none.md",
        "README.md:4: link 'docs/none.png': no file docs/none.png",
        "README.md:5: link 'docs/page.md#three-words': no heading with anchor #three-words in page.md",
        "README.md:5: link '#back': no heading with anchor #back in README.md",
        "README.md:6: link '../elsewhere.md' leads out of the repository",
    ]


def test_readme_is_a_front_page():
    lines = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines <= README_MOST_LINES, f"README.md has {lines} lines, at most {README_MOST_LINES}: move some to docs/"


def test_every_docs_page_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {(ROOT / target.partition("#")[0]).resolve() for _, target in links(readme)}
    unlinked = [page.name for page in PAGES[1:] if page.resolve() not in linked]
    assert not unlinked, f"docs pages the README does not link to: {unlinked}"
