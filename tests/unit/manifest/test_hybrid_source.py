"""A hybrid job's source archive: the same bytes for the same tree, only what ships in it,
and unpacked by the launcher as Braket lays a source out."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

import qplan
from qplan.manifest.hybrid_source import (
    ARCHIVE_LIMIT,
    SourceProblem,
    entry_module_files,
    input_digest,
    pack_source,
)
from qplan.providers.hybrid_launcher import unpack

MANIFEST = """\
version: 1
stack: hy
programs:
  vqe: {format: braket.hybrid, path: vqe, entry_point: "vqe.algorithm:main"}
jobs:
  a: {target: local/braket_sv, program: vqe}
"""


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def source_tree(root: Path) -> Path:
    return tree(
        root,
        {
            "vqe/__init__.py": "",
            "vqe/algorithm.py": "def main():\n    pass\n",
            "vqe/lib/util.py": "X = 1\n",
            "vqe/__pycache__/algorithm.cpython-311.pyc": "compiled",
            "vqe/lib/old.pyc": "compiled",
            "vqe/.git/HEAD": "ref",
            "vqe/.qplan/state.db": "state",
            "vqe/.env": "TOKEN=secret",
            "vqe/.env.local": "TOKEN=secret",
            "vqe/notes/draft.md": "draft",
            "vqe/data/big.csv": "1,2",
            "vqe/lib/data.csv": "3,4",
            "vqe/.qplanignore": "# not shipped\nnotes/\n/data/*.csv\n",
        },
    )


def names(archive: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return tar.getnames()


def test_only_what_ships_is_in_the_archive(tmp_path: Path) -> None:
    source = pack_source(source_tree(tmp_path) / "vqe")
    assert source.members == (
        "vqe/__init__.py",
        "vqe/algorithm.py",
        "vqe/lib/data.csv",
        "vqe/lib/util.py",
    )
    assert names(source.archive) == list(source.members)


def test_the_archive_is_deterministic(tmp_path: Path) -> None:
    first = pack_source(source_tree(tmp_path / "one") / "vqe")
    second_root = source_tree(tmp_path / "two")
    os.utime(second_root / "vqe" / "algorithm.py", (1, 1))  # another mtime
    second = pack_source(second_root / "vqe")
    assert first.archive == second.archive
    assert first.digest == second.digest
    assert first.archive[4:8] == b"\0\0\0\0"  # gzip header mtime
    with tarfile.open(fileobj=io.BytesIO(first.archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            assert (member.mtime, member.uid, member.gid) == (0, 0, 0)
            assert (member.uname, member.gname) == ("", "")
            assert member.mode in (0o644, 0o755)


def test_the_digest_follows_what_ships(tmp_path: Path) -> None:
    root = source_tree(tmp_path) / "vqe"
    base = pack_source(root).digest
    (root / "notes" / "draft.md").write_text("edited")
    (root / ".env").write_text("TOKEN=other")
    assert pack_source(root).digest == base  # left out: no change
    (root / "lib" / "util.py").write_text("X = 2\n")
    assert pack_source(root).digest != base
    (root / "lib" / "util.py").write_text("X = 1\n")
    assert pack_source(root).digest == base
    (root / "algorithm.py").chmod(0o755)
    assert pack_source(root).digest != base


def test_the_manifest_never_ships(tmp_path: Path) -> None:
    root = source_tree(tmp_path) / "vqe"
    manifest = root / "qplan.yaml"
    manifest.write_text(MANIFEST.replace("path: vqe", "path: ."))
    assert "vqe/qplan.yaml" not in pack_source(root, manifest.resolve()).members
    stack = qplan.load(manifest)
    assert not any(n.endswith("qplan.yaml") for n in names(stack.jobs["a"].program.text))


def test_the_launcher_unpacks_it_under_the_folder_name(tmp_path: Path) -> None:
    source = pack_source(source_tree(tmp_path / "src") / "vqe")
    archive = tmp_path / "source.tar.gz"
    archive.write_bytes(source.archive)
    unpack(archive, tmp_path / "code")
    assert (tmp_path / "code" / "vqe" / "algorithm.py").read_text() == "def main():\n    pass\n"
    assert (tmp_path / "code" / "vqe" / "lib" / "util.py").exists()
    assert not (tmp_path / "code" / "vqe" / ".env").exists()


def test_a_single_file(tmp_path: Path) -> None:
    path = tree(tmp_path, {"run.py": "print(1)\n"}) / "run.py"
    assert pack_source(path).members == ("run.py",)
    assert entry_module_files("run") == ("run.py", "run/__init__.py", "run/__main__.py")
    assert entry_module_files("vqe.algorithm:main") == (
        "vqe/algorithm.py",
        "vqe/algorithm/__init__.py",
    )


def test_links_inside_ship_as_links_outside_are_refused(tmp_path: Path) -> None:
    root = source_tree(tmp_path) / "vqe"
    (root / "alias.py").symlink_to("lib/util.py")
    source = pack_source(root)
    with tarfile.open(fileobj=io.BytesIO(source.archive), mode="r:gz") as tar:
        link = tar.getmember("vqe/alias.py")
        assert link.issym() and link.linkname == "lib/util.py"
    (tmp_path / "outside.py").write_text("secret")
    (root / "leak.py").symlink_to(tmp_path / "outside.py")
    with pytest.raises(SourceProblem, match=r"leak\.py is a link to .*, outside the program's"):
        pack_source(root)


def test_a_source_too_large_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "big"
    root.mkdir()
    (root / "blob.bin").write_bytes(os.urandom(ARCHIVE_LIMIT + 1024))
    with pytest.raises(SourceProblem, match="above the limit of 50 MB of archive"):
        pack_source(root)


def test_input_digests_follow_content(tmp_path: Path) -> None:
    data = tree(tmp_path, {"data/a.json": "{}", "data/sub/b.json": "[]"}) / "data"
    base = input_digest(data)
    assert input_digest(data) == base
    (data / "sub" / "b.json").write_text("[1]")
    assert input_digest(data) != base
    assert input_digest(data / "a.json") != input_digest(data)
