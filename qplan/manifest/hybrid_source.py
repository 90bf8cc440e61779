"""A hybrid job's source as one deterministic archive, and the hash of its input files.

The archive is a gzipped tar of the program's folder (or its one ``.py`` file) under its
own name at the root, as ``AwsQuantumJob.create`` lays a source out: ``vqe/algorithm.py``
for the folder ``vqe``, so entry points start with the folder's name. It is the same bytes
for the same tree, wherever and whenever it is made:

- members sorted by path, files and symbolic links only (folders are implied);
- mtime 0, uid and gid 0, no user or group names, modes 0o755 (a file executable by its
  owner) or 0o644; the gzip header has mtime 0 and no file name.

What is left out: every ``__pycache__/``, ``*.pyc``, ``.git/``, ``.qplan/``, ``.env`` and
``.env.*``, the manifest itself (its secrets never ship), ``.qplanignore`` and what it
names. That file, at the folder's root, holds one pattern a line, as ``.gitignore`` does:
``#`` starts a comment, a pattern ending in ``/`` matches folders only, a pattern without
a ``/`` (but a trailing one) matches a name at any depth, one with a ``/`` matches a path
from the root; ``*`` and ``?`` stay within a name, ``**`` crosses folders. There is no
negation (``!``): such a line is an error, as is a link that points outside the folder.

The digest hashes every member's path, kind, mode and bytes (not the archive's bytes,
which depend on zlib): an edit to a shipped file changes it, an edit to a file left out
does not.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import stat
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ARCHIVE_LIMIT",
    "IGNORE_FILE",
    "Source",
    "SourceProblem",
    "entry_module_files",
    "input_digest",
    "pack_source",
]

ARCHIVE_LIMIT = 50 * 1024 * 1024
"""Bytes of archive at most: a source is code, not data (input channels carry data)."""

IGNORE_FILE = ".qplanignore"
_ALWAYS = ("__pycache__/", "*.pyc", ".git/", ".qplan/", ".env", ".env.*", IGNORE_FILE)
_READ_LIMIT = 4 * ARCHIVE_LIMIT  # bytes read before giving up on compressing below the limit


class SourceProblem(Exception):
    """The source cannot be packed; ``file`` and ``line``: where in the ignore file, when
    the problem is there."""

    def __init__(self, message: str, file: Path | None = None, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line


@dataclass(frozen=True)
class Source:
    """A packed source: ``archive`` (gzipped tar), ``members`` (the paths in it, files and
    links, sorted), ``digest`` (of the content, see the module's docstring)."""

    archive: bytes
    members: tuple[str, ...]
    digest: str


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    folders_only: bool
    anchored: bool


def _glob(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif text.startswith("**", i):
            out.append(".*")
            i += 2
        elif text[i] == "*":
            out.append("[^/]*")
            i += 1
        elif text[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(text[i]))
            i += 1
    return "".join(out)


def _pattern(line: str) -> _Pattern:
    folders_only = line.endswith("/")
    body = line.rstrip("/")
    anchored = "/" in body
    return _Pattern(re.compile(_glob(body.lstrip("/")) + r"\Z"), folders_only, anchored)


def _read_ignore(folder: Path) -> list[_Pattern]:
    patterns = [_pattern(p) for p in _ALWAYS]
    path = folder / IGNORE_FILE
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return patterns
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceProblem(f"cannot read {IGNORE_FILE}: {exc}", path) from None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            raise SourceProblem(
                f"negated patterns ({line}) are not supported: name what to leave out", path, number
            )
        if line.strip("/") == "":
            raise SourceProblem(f"pattern {line!r} would leave out everything", path, number)
        patterns.append(_pattern(line))
    return patterns


def _ignored(relative: str, is_folder: bool, patterns: Sequence[_Pattern]) -> bool:
    name = relative.rpartition("/")[2]
    for pattern in patterns:
        if pattern.folders_only and not is_folder:
            continue
        if pattern.regex.match(relative if pattern.anchored else name):
            return True
    return False


def _walk(folder: Path, patterns: Sequence[_Pattern], manifest: Path | None) -> Iterator[str]:
    """Paths of the files and links to ship, relative to ``folder``, in sorted order."""
    found: list[str] = []
    for top, dirs, files in os.walk(folder):
        rel_top = Path(top).relative_to(folder).as_posix()
        prefix = "" if rel_top == "." else rel_top + "/"
        kept_dirs = []
        for name in sorted(dirs):
            path = Path(top) / name
            if _ignored(prefix + name, True, patterns):
                continue
            if path.is_symlink():
                found.append(prefix + name)  # a link to a folder ships as a link
            else:
                kept_dirs.append(name)
        dirs[:] = kept_dirs
        for name in files:
            path = Path(top) / name
            if _ignored(prefix + name, False, patterns):
                continue
            if manifest is not None and path.resolve() == manifest:
                continue
            found.append(prefix + name)
    yield from sorted(found)


def _link_target(folder: Path, path: Path, shown: str) -> str:
    """A link's target, relative to the link, when it stays inside ``folder``."""
    target = os.readlink(path)
    resolved = (path.parent / target).resolve()
    root = folder.resolve()
    if resolved != root and root not in resolved.parents:
        raise SourceProblem(f"{shown} is a link to {target}, outside the program's folder")
    return os.path.relpath(resolved, path.parent.resolve()).replace(os.sep, "/")


def _info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack_source(path: Path, manifest: Path | None = None) -> Source:
    """The archive of the folder or ``.py`` file at ``path`` (see the module's docstring).
    ``manifest``: the manifest's own path, never shipped. Raises SourceProblem."""
    if path.is_dir():
        folder: Path | None = path
        patterns = _read_ignore(path)
        entries = [(f"{path.name}/{rel}", path / rel) for rel in _walk(path, patterns, manifest)]
    elif path.is_file():
        if path.suffix != ".py":
            raise SourceProblem(f"{path.name} is neither a folder nor a .py file")
        folder = None
        entries = [(path.name, path)]
    else:
        raise SourceProblem(f"{path.name} is neither a folder nor a .py file")
    digest = hashlib.blake2b(b"braket.hybrid/1\0", digest_size=16)
    buffer = io.BytesIO()
    members: list[str] = []
    read = 0
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, file in entries:
            info = _info(name)
            if file.is_symlink() and folder is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = _link_target(folder, file, name.partition("/")[2])
                info.mode = 0o777
                tar.addfile(info)
                digest.update(f"L\0{name}\0{info.linkname}\0".encode())
                members.append(name)
                continue
            try:
                data = file.read_bytes()
                executable = file.stat().st_mode & stat.S_IXUSR
            except OSError as exc:
                raise SourceProblem(f"cannot read {name}: {exc.strerror}") from None
            read += len(data)
            if read > _READ_LIMIT:
                raise SourceProblem(_too_large(read))
            info.size = len(data)
            info.mode = 0o755 if executable else 0o644
            tar.addfile(info, io.BytesIO(data))
            digest.update(f"F\0{name}\0{info.mode:o}\0{len(data)}\0".encode())
            digest.update(data)
            members.append(name)
    archive = buffer.getvalue()
    if len(archive) > ARCHIVE_LIMIT:
        raise SourceProblem(_too_large(len(archive)))
    if not members:
        raise SourceProblem(f"{path.name} holds no file to ship (all left out?)")
    return Source(archive, tuple(members), digest.hexdigest())


def _too_large(size: int) -> str:
    return (
        f"the source is {size / 2**20:.0f} MB, above the limit of {ARCHIVE_LIMIT / 2**20:.0f} MB "
        f"of archive: leave data out with {IGNORE_FILE} and pass it as input_data"
    )


def entry_module_files(entry_point: str) -> tuple[str, ...]:
    """The archive members any of which makes ``entry_point``'s module importable (or
    runnable as ``__main__`` when it names no function)."""
    module, _, function = entry_point.partition(":")
    base = module.replace(".", "/")
    files = (f"{base}.py", f"{base}/__init__.py")
    return files if function else (*files, f"{base}/__main__.py")


def input_digest(path: Path) -> str:
    """The hash of a local input channel: a file's bytes, or every file of a folder (paths
    and bytes, in sorted order). Raises OSError."""
    digest = hashlib.blake2b(b"input/1\0", digest_size=16)
    if path.is_file():
        _hash_file(digest, path)
        return digest.hexdigest()
    files = sorted(
        Path(top, name).relative_to(path).as_posix()
        for top, _, names in os.walk(path, followlinks=False)
        for name in names
    )
    for rel in files:
        digest.update(f"{rel}\0".encode())
        _hash_file(digest, path / rel)
    return digest.hexdigest()


def _hash_file(digest: hashlib.blake2b, path: Path) -> None:
    with path.open("rb") as handle:
        size = 0
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    digest.update(f"\0{size}\0".encode())
