"""The README and docs/ point only at what a clone contains: every relative link resolves to a
file or folder in the repository (and a #section to a heading there), nothing absolute, nothing
outside it."""

import re
from pathlib import Path

import pytest
from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and ![alt](target); the target ends at the first space or closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")


def links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # code blocks hold commands, not links
    return LINK.findall(text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in path.read_text().splitlines() if line.startswith("#")}


def test_docs_exist_and_the_readme_links_the_design():
    assert (ROOT / "docs" / "design.md").is_file()
    assert "](docs/design.md" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(doc):
    found = links(doc)
    assert found, f"{doc.name}: no links found (is the pattern still right?)"
    for target in found:
        if re.match(r"[a-z]+:", target):  # https:, mailto: ... leave the repository on purpose
            assert target.startswith(("https://", "http://", "mailto:")), target
            continue
        assert not target.startswith("/"), f"{doc.name}: absolute path {target}"
        file_part, _, anchor = target.partition("#")
        where = (doc.parent / file_part).resolve() if file_part else doc
        assert where.is_relative_to(ROOT), f"{doc.name}: {target} leads outside the repository"
        assert where.exists(), f"{doc.name}: {target} does not exist in the repository"
        if anchor:
            assert where.suffix == ".md" and anchor in anchors(where), f"{doc.name}: no section #{anchor} in {where.name}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_doc_names_a_file_outside_the_repository(doc):
    text = doc.read_text()
    for outside in ("shared/DESIGN", "../shared", "/work/", "/tmp/helper"):
        assert outside not in text, f"{doc.name} mentions {outside}"


README_MAX_LINES = 150
# A repository path in backticks: starts at one of the repository's top folders, no spaces, no
# placeholders (`services/<name>/start.sh`) or globs (`services/bare-*`).
REPO_PATH = re.compile(r"(?:lab|records|analysis|services|locustfiles|tests|scripts|deploy)/[\w./-]*")


def code_spans(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # blocks hold commands and trees, not references
    return re.findall(r"`([^`\n]+)`", text)


def test_the_readme_is_short_and_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    lines = len(readme.splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES}: the rest belongs in docs/)"
    pages = sorted((ROOT / "docs").glob("*.md"))
    assert pages, "no docs/*.md pages found"
    unlinked = [page.name for page in pages if f"](docs/{page.name}" not in readme]
    assert not unlinked, f"README.md links none of: {', '.join(unlinked)}"


def test_the_path_check_sees_real_and_made_up_paths(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("`lab/run/plan.py`, `services/<name>/start.sh`, `make bench`\n```\nlab/gone.py\n```\n`lab/gone.py`\n")
    found = [span for span in code_spans(page) if REPO_PATH.fullmatch(span)]
    assert found == ["lab/run/plan.py", "lab/gone.py"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_in_backticks_exists(doc):
    missing = [span for span in code_spans(doc) if REPO_PATH.fullmatch(span) and not (ROOT / span).exists()]
    assert not missing, f"{doc.name} names paths that do not exist: {', '.join(missing)}"
