"""YAML with positions: parse a file into plain data and map any data path back to line:col.

The document is composed into ruamel.yaml nodes (the C parser when available), then built
into plain Python data (dict, list, str, int, float, bool, None) by our own walk, which
reports duplicate keys, unsupported tags and excessive nesting as located diagnostics.
The node tree is kept so a diagnostic about any path can name its line and column; it is
only walked when a diagnostic is made, so loading stays linear in the file size. Files are
read up to MAX_FILE_BYTES, and aliases are bounded (``yamlcheck``) before the tree is
composed, so no document can make the builder expand aliases without end.

YAML 1.2 core schema: ``yes``/``no``/``on`` are strings, ``010`` is the integer 10, and
timestamps stay strings. Merge keys (``<<: *anchor``) are supported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

from qplan.errors import Diagnostic, ManifestError
from qplan.manifest.paths import PathPart, format_path
from qplan.manifest.yamlcheck import check_aliases, syntax_diagnostic

__all__ = [
    "MAX_FILE_BYTES",
    "FileTooLarge",
    "PathPart",
    "YamlDocument",
    "format_path",
    "load_yaml",
    "read_bytes",
    "read_text",
]

MAX_DEPTH = 64
MAX_FILE_BYTES = 64 * 2**20
"""The largest manifest, var file or points file qplan reads: 64 MiB. A 1,000,000-point
sweep written out in the manifest takes about 42 MB (100,000 points: 4.2 MB, loaded in
seconds); past this size a file is almost surely not a manifest, and building it would
take many gigabytes."""

_TAG = "tag:yaml.org,2002:"
_INT_RE = re.compile(r"[-+]?[0-9][0-9_]*")
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_TRUE = frozenset(("true", "True", "TRUE"))
_FALSE = frozenset(("false", "False", "FALSE"))


class FileTooLarge(Exception):
    """A file is larger than MAX_FILE_BYTES; the message says so, without the file name."""


def _amount(size: int) -> str:
    return f"{size // 2**20} MiB" if size % 2**20 == 0 else f"{size:,} bytes"


def read_bytes(path: Path) -> bytes:
    """The bytes of a file of at most MAX_FILE_BYTES. A larger regular file is refused
    before it is read, anything else (a pipe, a device) once the limit is passed.
    Raises OSError or FileTooLarge."""
    limit = MAX_FILE_BYTES
    with path.open("rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        raw = b"" if size > limit else stream.read(limit + 1)
    if size > limit or len(raw) > limit:
        shown = f"{size:,} bytes" if size > limit else f"more than {_amount(limit)}"
        raise FileTooLarge(
            f"{shown}, larger than the {_amount(limit)} qplan reads from a manifest, "
            "var file or points file"
        )
    return raw


def read_text(path: Path, display: str) -> str:
    """Read a UTF-8 text file; undecodable bytes are a located error, not a traceback."""
    try:
        raw = read_bytes(path)
    except FileTooLarge as exc:
        raise ManifestError([Diagnostic(display, 0, 0, "", str(exc))]) from None
    except FileNotFoundError:
        raise ManifestError([Diagnostic(display, 0, 0, "", "no such file")]) from None
    except IsADirectoryError:
        raise ManifestError([Diagnostic(display, 0, 0, "", "is a directory, not a file")]) from None
    except OSError as exc:
        raise ManifestError(
            [Diagnostic(display, 0, 0, "", f"cannot read: {exc.strerror}")]
        ) from None
    return decode_text(raw, display)


def decode_text(raw: bytes, display: str) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ManifestError(
            [
                Diagnostic(
                    display,
                    line,
                    column,
                    "",
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); is this a binary file?",
                )
            ]
        ) from None
    if "\x00" in text:
        offset = text.index("\x00")
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        raise ManifestError(
            [Diagnostic(display, line, column, "", "contains a NUL byte; is this a binary file?")]
        )
    return text


def _tag(node: Node) -> str:
    ctag = getattr(node, "ctag", None)
    if ctag is None:  # pragma: no cover - older ruamel.yaml keeps a plain string
        return str(node.tag)
    return str(ctag.trval)


_SHARED_TAGS: dict[str, Tag] = {}


def _shared(tag: Any) -> Tag:
    text = tag if isinstance(tag, str) else str(tag)
    shared = _SHARED_TAGS.get(text)
    if shared is None:
        shared = _SHARED_TAGS[text] = tag if isinstance(tag, Tag) else Tag(suffix=text)
    return shared


_Matchers = dict[str, list[tuple[Tag, Callable[[str], Any]]]]


class _FastResolver(VersionedResolver):
    """ruamel's YAML implicit resolution, made fast for large documents with the same
    results: the version's rules are looked up once per document (not once per scalar),
    turned into plain compiled ``match`` methods (ruamel wraps them in lazy proxies), and
    each tag is one shared Tag object, which decodes its URI once."""

    def _matchers(self) -> _Matchers:
        table: _Matchers | None = self.__dict__.get("_qplan_matchers")
        if table is None:
            rules = self.versioned_resolver
            fallback = list(rules.get(None, ()))
            table = {
                first: [
                    (_shared(tag), re.compile(rx.pattern, rx.flags).match)
                    for tag, rx in [*lst, *fallback]
                ]
                for first, lst in rules.items()
                if first is not None
            }
            table[""] = table.get("", [])
            self.__dict__["_qplan_matchers"] = table
            self.__dict__["_qplan_fallback"] = [
                (_shared(tag), re.compile(rx.pattern, rx.flags).match) for tag, rx in fallback
            ]
        return table

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0]:
            table = self._matchers()
            rules = table.get(value[:1])
            if rules is None:
                rules = self.__dict__["_qplan_fallback"]
            for tag, match in rules:
                if match(value):
                    return tag
            return _shared(self.DEFAULT_SCALAR_TAG)
        return _shared(super().resolve(kind, value, implicit))


def _position(node: Node) -> tuple[int, int]:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


@dataclass
class YamlDocument:
    """A parsed YAML file: its plain ``data`` and the node tree that locates any path."""

    file: str
    root: Node | None
    data: Any
    diagnostics: list[Diagnostic] = field(default_factory=list)
    text: str = field(default="", repr=False)
    _lines: list[str] | None = field(default=None, repr=False)

    def position(self, path: Sequence[PathPart], *, key: bool = False) -> tuple[int, int]:
        """Line and column of ``path``, or of its deepest existing ancestor.

        With ``key=True`` and a mapping entry, the position of the key rather than its value
        (where an "unknown key" error belongs).
        """
        node = self.root
        if node is None:
            return (1, 1)
        for i, part in enumerate(path):
            last = i == len(path) - 1
            found = _child(node, part, want_key=key and last)
            if found is None:
                break
            node = found
        return _position(node)

    def diagnostic(
        self, path: Sequence[PathPart], message: str, *, key: bool = False
    ) -> Diagnostic:
        line, column = self.position(path, key=key)
        return Diagnostic(self.file, line, column, format_path(path), message)

    def text_positions(
        self, path: Sequence[PathPart], value: str, positions: Sequence[tuple[int, int]]
    ) -> list[tuple[int, int]] | None:
        """Where in the file the 1-based (line, column) ``positions`` of the string at
        ``path`` are, if ``value`` is that string as the file spells it out: a literal block
        (``|``, any indicators) or a one-line scalar without escapes. None for a folded block,
        a flow scalar over several lines or with escapes, or a ``value`` that differs from
        the string (a template changed it). A position past the last line of text is put
        at the end of that line."""
        node = self.root
        for part in path:
            node = _child(node, part, want_key=False) if node is not None else None
        if not isinstance(node, ScalarNode) or node.value != value or node.start_mark is None:
            return None
        if self._lines is None:
            self._lines = [line.removesuffix("\r") for line in self.text.split("\n")]
        start = node.start_mark
        if node.style == "|":
            return _block_positions(self._lines, start.line + 1, value, positions)
        if "\n" in value or node.style not in (None, "", "'", '"'):
            return None
        column = start.column + (1 if node.style else 0)  # after the opening quote
        if self._lines[start.line][column : column + len(value)] != value:
            return None
        end = column + len(value)
        return [(start.line + 1, column + c if c and ln == 1 else end + 1) for ln, c in positions]


def _block_positions(
    lines: list[str], first: int, value: str, positions: Sequence[tuple[int, int]]
) -> list[tuple[int, int]] | None:
    """Positions in a literal block whose text starts on ``lines[first]``: each text line
    is a file line less the block's indentation, checked line by line."""
    rows = value.split("\n")
    filled = [i for i, row in enumerate(rows) if row]
    if not filled or first + filled[-1] >= len(lines):
        return None
    indent = len(lines[first + filled[0]]) - len(rows[filled[0]])
    if indent < 0:
        return None
    for i in filled:
        line = lines[first + i]
        if line[indent:] != rows[i] or line[:indent].strip(" "):
            return None
    last = filled[-1]
    out = []
    for line_no, column in positions:
        if 1 <= line_no <= last + 1:
            out.append((first + line_no, indent + column))
        else:  # past the text, at the end of the input: the end of its last line
            out.append((first + last + 1, indent + len(rows[last]) + 1))
    return out


def _child(node: Node, part: PathPart, *, want_key: bool) -> Node | None:
    if isinstance(node, MappingNode) and isinstance(part, str):
        for key_node, value_node in node.value:
            if _tag(key_node) == _TAG + "merge":
                for merged in _merge_sources(value_node):
                    hit = _child(merged, part, want_key=want_key)
                    if hit is not None:
                        return hit
            elif isinstance(key_node, ScalarNode) and key_node.value == part:
                return key_node if want_key else value_node
        return None
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        child: Node = node.value[part]
        return child
    return None


def _merge_sources(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    return [node]


class _Builder:
    """Turns a node tree into plain data, collecting diagnostics instead of stopping."""

    def __init__(self, doc: YamlDocument) -> None:
        self.doc = doc

    def build(self, node: Node, path: list[PathPart]) -> Any:
        if len(path) > MAX_DEPTH:
            self.doc.diagnostics.append(
                self.doc.diagnostic(path, f"nested deeper than {MAX_DEPTH} levels")
            )
            return None
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, SequenceNode):
            self.check_tag(node, "seq", path)
            return [self.build(item, [*path, i]) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            self.check_tag(node, "map", path)
            return self.mapping(node, path)
        return None  # pragma: no cover - composer yields only the three node kinds

    def check_tag(self, node: Node, kind: str, path: list[PathPart]) -> None:
        tag = _tag(node)
        if tag != _TAG + kind:
            self.doc.diagnostics.append(self.doc.diagnostic(path, f"unsupported YAML tag {tag}"))

    def mapping(self, node: MappingNode, path: list[PathPart]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: dict[str, int] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if _tag(key_node) == _TAG + "merge":
                for source in _merge_sources(value_node):
                    value = self.build(source, path)
                    if not isinstance(value, dict):
                        self.doc.diagnostics.append(
                            self.doc.diagnostic(
                                path, "a merge key (<<) needs a mapping or a list of mappings"
                            )
                        )
                        continue
                    for k, v in value.items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, ScalarNode):
                line, column = _position(key_node)
                self.doc.diagnostics.append(
                    Diagnostic(
                        self.doc.file,
                        line,
                        column,
                        format_path(path),
                        "keys must be plain strings, not collections",
                    )
                )
                continue
            key = str(key_node.value)
            if key in seen:
                line, column = _position(key_node)
                self.doc.diagnostics.append(
                    Diagnostic(
                        self.doc.file,
                        line,
                        column,
                        format_path([*path, key]),
                        f"duplicate key (first defined at line {seen[key]})",
                    )
                )
                continue
            seen[key] = _position(key_node)[0]
            out[key] = self.build(value_node, [*path, key])
        for k, v in merged.items():
            out.setdefault(k, v)
        return out

    def scalar(self, node: ScalarNode, path: list[PathPart]) -> Any:
        value: str = node.value
        tag = _tag(node)
        if not tag.startswith(_TAG):
            self.doc.diagnostics.append(self.doc.diagnostic(path, f"unsupported YAML tag {tag}"))
            return value
        kind = tag[len(_TAG) :]
        try:
            if kind in {"str", "timestamp"}:
                return value
            if kind == "int":
                return _to_int(value)
            if kind == "float":
                return _to_float(value)
            if kind == "bool":
                if value in _TRUE:
                    return True
                if value in _FALSE:
                    return False
                raise ValueError(value)
            if kind == "null":
                if value in _NULLS:
                    return None
                raise ValueError(value)
        except ValueError:
            self.doc.diagnostics.append(
                self.doc.diagnostic(path, f"{value!r} is not a valid !!{kind}")
            )
            return value
        self.doc.diagnostics.append(self.doc.diagnostic(path, f"unsupported YAML tag !!{kind}"))
        return value


def _to_int(text: str) -> int:
    if _INT_RE.fullmatch(text):
        return int(text.replace("_", ""), 10)
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-").replace("_", "").lower()
    for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
        if body.startswith(prefix):
            return sign * int(body[2:], base)
    if body.startswith("0") and body.isdigit():
        return sign * int(body, 8)
    raise ValueError(text)


def _to_float(text: str) -> float:
    lowered = text.lower().lstrip("+")
    if lowered in (".inf", "-.inf"):
        return float(lowered.replace(".", ""))
    if lowered == ".nan":
        return float("nan")
    return float(text.replace("_", ""))


def _new_yaml() -> YAML:
    try:
        yaml = YAML(typ="safe", pure=False)
    except Exception:  # pragma: no cover - the C extension is an optional speed-up
        yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = _FastResolver
    return yaml


def load_yaml(text: str, file: str) -> YamlDocument:
    """Parse ``text`` (the contents of ``file``). Raises ManifestError on invalid YAML.

    Diagnostics about the content (duplicate keys, tags) are collected in
    ``YamlDocument.diagnostics`` so that callers can report them with everything else.
    """
    try:
        if "&" in text and "*" in text:  # no anchor or no alias: nothing to expand
            check_aliases(_new_yaml().parse(text), file)
        root = _new_yaml().compose(text)
    except MarkedYAMLError as exc:
        raise ManifestError([syntax_diagnostic(exc, text, file, _new_yaml().scan(text))]) from None
    except ReaderError as exc:
        offset = int(exc.position)
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        char = (
            exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or " ")
        )
        message = f"invalid YAML: control character U+{char:04X} is not allowed"
        raise ManifestError([Diagnostic(file, line, column, "", message)]) from None
    except YAMLError as exc:
        raise ManifestError([Diagnostic(file, 0, 0, "", f"invalid YAML: {exc}")]) from None
    except RecursionError:
        raise ManifestError(
            [Diagnostic(file, 0, 0, "", "invalid YAML: nested too deeply")]
        ) from None
    doc = YamlDocument(file, root, None, text=text)
    if root is not None:
        doc.data = _Builder(doc).build(root, [])
    return doc
