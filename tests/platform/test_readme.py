"""The README tells the truth about the tree: every folder is in its architecture or test
table, and every file it links or names as a document exists in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def folders(base: Path) -> list[Path]:
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def test_every_package_folder_is_in_the_architecture_tree() -> None:
    tree = README[README.index("## Architecture and design") : README.index("## Testing")]
    missing = [f.name for f in folders(ROOT / "src" / "gomeet") if f"{f.name}/" not in tree]
    assert not missing, missing


def test_every_test_folder_is_in_the_test_table() -> None:
    table = README[README.index("## Testing") : README.index("## Caching")]
    missing = [f.name for f in folders(ROOT / "tests") if f"`tests/{f.name}/`" not in table]
    assert not missing, missing


def test_the_top_level_folders_are_described() -> None:
    for folder in ("scripts", "docs"):
        assert f"{folder}/" in README, folder


def test_linked_and_named_documents_exist_in_the_repository() -> None:
    links = re.findall(r"\]\(([^)#:]+)\)", README)
    documents = re.findall(r"`([\w./-]+\.md)`", README)
    missing = [path for path in {*links, *documents} if not (ROOT / path).exists()]
    assert not missing, missing
