"""The repository's own documentation stays true to the repository.

- Every relative link of the README and of `docs/*.md` names a file that a clone has (it
  exists, inside the repository, and git does not ignore it), and every `#anchor` names a
  heading of the page it points to, by GitHub's rules for heading ids.
- The README stays a front door: at most 150 lines.
- The configuration reference of docs/operations.md lists every setting of `Settings` once,
  with its default; `.env.example` assigns every setting once, with its default or commented
  out; every `STOREFRONT_*` variable a page names is a setting or one the code reads.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from storefront.core.config import Settings

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
MAX_README_LINES = 150

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
# An inline link or image: `[text](target "title")`; the text may hold brackets and newlines.
_INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^\s)>]+)>?(?:\s+\"[^\"]*\")?\s*\)"
)
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_HTML_ID = re.compile(r"<a\s[^>]*(?:id|name)=\"([^\"]+)\"")
_LINKED_TEXT = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def _prose(text: str) -> str:
    """The page without fenced code blocks: what a reader sees as text and links."""
    kept, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        kept.append("" if fenced else line)
    return "\n".join(kept)


def links(page: Path) -> list[str]:
    """Every link target of a Markdown page, outside code."""
    prose = _CODE_SPAN.sub("", _prose(page.read_text(encoding="utf-8")))
    return _INLINE_LINK.findall(prose) + _REFERENCE_DEFINITION.findall(prose)


def heading_id(heading: str) -> str:
    """GitHub's id for a heading: its text, lower-cased, punctuation dropped, spaces to `-`."""
    text = _LINKED_TEXT.sub(r"\1", heading).replace("`", "")
    kept = "".join(c for c in text.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The ids a link may name on a page: its headings (repeats get `-1`, `-2`, ...) and any
    explicit `<a id="...">`."""
    found: set[str] = set()
    seen: Counter[str] = Counter()
    prose = _prose(page.read_text(encoding="utf-8"))
    for line in prose.splitlines():
        match = _HEADING.match(line)
        if match:
            base = heading_id(match.group(2))
            found.add(base if not seen[base] else f"{base}-{seen[base]}")
            seen[base] += 1
    found.update(_HTML_ID.findall(prose))
    return found


def git_ignored(paths: list[Path]) -> set[Path]:
    """The paths git ignores: they exist here but not in a clone."""
    git = shutil.which("git")
    assert git is not None, "git is needed to tell which files a clone has"
    listed = "\n".join(str(path) for path in paths)
    done = subprocess.run(  # noqa: S603 - git, our own arguments, no shell
        [git, "-C", str(REPO), "check-ignore", "--stdin"],
        input=listed,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr  # 1: nothing is ignored
    return {Path(line) for line in done.stdout.splitlines()}


def link_problems(page: Path) -> Iterator[tuple[str, Path | None]]:
    """(problem, the file a relative link names) for every link of `page`."""
    for target in links(page):
        if _SCHEME.match(target):
            continue  # the web: not a file of ours
        path_part, _, anchor = target.partition("#")
        if path_part.startswith("/"):
            yield f"{target}: not relative to the page", None
            continue
        linked = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not linked.is_relative_to(REPO):
            yield f"{target}: leaves the repository", None
        elif not linked.exists():
            yield f"{target}: no such file", None
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            yield f"{target}: no heading with the id {anchor!r}", None
        else:
            yield "", linked


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_link_names_a_file_and_heading_a_clone_has(page: Path) -> None:
    problems, files = [], []
    for problem, linked in link_problems(page):
        if problem:
            problems.append(problem)
        if linked is not None:
            files.append(linked)
    problems += [f"{path.relative_to(REPO)}: ignored by git" for path in git_ignored(files)]

    assert not problems, f"{page.relative_to(REPO)}: " + "; ".join(problems)


def test_the_readme_links_to_every_page_of_docs() -> None:
    linked = {(README.parent / target.partition("#")[0]).resolve() for target in links(README)}

    assert set(PAGES[1:]) <= linked


def test_the_readme_stays_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()

    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines"


# --------------------------------------------------------------------------- settings


def documented_default(value: Any) -> str | None:
    """A default as the pages write it; None for a setting that is unset by default."""
    if value is None or value == []:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


SETTINGS = {
    f"STOREFRONT_{name.upper()}": documented_default(field.default)
    for name, field in Settings.model_fields.items()
}


def configuration_reference() -> list[list[str]]:
    """The rows of the table under "Configuration reference" in docs/operations.md, as cells."""
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("\n### Configuration reference\n", 1)[1]
    section = re.split(r"\n#{1,6} ", section, maxsplit=1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[2:]]


def test_the_configuration_reference_has_every_setting_once_with_its_default() -> None:
    rows = configuration_reference()
    names = [row[0].strip("`") for row in rows]

    assert [name for name, count in Counter(names).items() if count > 1] == []
    assert set(names) == set(SETTINGS)
    for name, default, *_ in rows:
        expected = SETTINGS[name.strip("`")]
        if expected is None:
            assert default.startswith("unset"), (name, default)
        else:
            assert default == f"`{expected}`", (name, default)


def test_env_example_assigns_every_setting_once_with_its_default() -> None:
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    assignments = re.findall(r"^(#\s*)?(STOREFRONT_[A-Z0-9_]+)=(.*)$", text, re.MULTILINE)
    names = [name for _, name, _ in assignments]

    assert [name for name, count in Counter(names).items() if count > 1] == []
    assert set(names) == set(SETTINGS)
    for commented, name, value in assignments:
        expected = SETTINGS[name]
        if expected is None:
            assert commented, f"{name} has no default: leave it commented out"
        else:
            assert not commented, name
            assert value.strip('"') == expected, (name, value)


def _code_text() -> str:
    sources = [*REPO.glob("src/**/*.py"), *REPO.glob("migrations/**/*.py"), REPO / ".ci" / "run"]
    sources += [path for path in REPO.glob("tests/**/*.py") if path != Path(__file__).resolve()]
    return "\n".join(path.read_text(encoding="utf-8") for path in sources)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_storefront_variable_named_is_one_the_program_reads(page: Path) -> None:
    code = _code_text()
    unknown = []
    for name, wildcard in re.findall(
        r"\b(STOREFRONT_[A-Z0-9_]*)([*<]?)", page.read_text(encoding="utf-8")
    ):
        if wildcard:  # `STOREFRONT_SMTP_*`, `STOREFRONT_<NAME>`: a family, or a placeholder
            known = wildcard == "<" or any(setting.startswith(name) for setting in SETTINGS)
        else:
            known = name in SETTINGS or re.search(rf"\b{name}\b", code) is not None
        if not known:
            unknown.append(name)

    assert unknown == [], f"{page.relative_to(REPO)} names variables nothing reads: {unknown}"
