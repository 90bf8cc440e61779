"""Checks made on YAML text before any of it is built into data, and readable messages
for the text that the parser refuses.

Aliases: a YAML alias (``*name``) stands for the whole node its anchor (``&name``) names,
and qplan builds plain data, so each alias is built again. Nested aliases multiply: nine
levels of nine aliases ("billion laughs") make 387 million values from a 500-byte file.
``check_aliases`` reads the parser's events once, sums what every alias would add, and
refuses the document at the first alias that takes the sum past ``MAX_ALIAS_NODES``, or
that is used inside the node it names (a recursive structure), before anything is
composed or built.

Syntax errors: the parser's problem is kept, but a tab where indentation is read is
named as a tab, at the tab (the C parser says only "found character that cannot start
any token"), and a quote left open is reported where it opens, not where the parser gave
up: at the end of the file, or at the next quote, which closed it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
)
from ruamel.yaml.tokens import ScalarToken

from qplan.errors import Diagnostic, ManifestError
from qplan.manifest.paths import PathPart, format_path

__all__ = ["MAX_ALIAS_NODES", "check_aliases", "syntax_diagnostic"]

MAX_ALIAS_NODES = 1_000_000
"""The most nodes (scalars, lists, mappings) that aliases may add to one document. Far
above what anchors and merge keys add to a real manifest (a thousand jobs merging ten
keys each add ten thousand), far below what exhausts memory."""


@dataclass
class _Open:
    """A list or mapping being read: its anchor, its size so far (itself, its items, and
    what the aliases among them expand to), and where its next item goes."""

    anchor: str | None
    part: PathPart | None  # where this collection sits in its parent
    is_mapping: bool
    size: int = 1
    index: int = 0  # the next item of a list
    key: PathPart = "?"  # the key of the next value of a mapping
    at_key: bool = True


def check_aliases(events: Iterable[Any], file: str) -> None:
    """Raise ManifestError, located at the alias, if aliases would expand the document
    beyond MAX_ALIAS_NODES nodes or an alias is used inside its own anchor. An alias to an
    anchor not (yet) defined is left for the composer to report."""
    sizes: dict[str, int] = {}  # anchor -> nodes in its node, aliases expanded
    added = 0
    stack: list[_Open] = []
    for event in events:
        if isinstance(event, DocumentStartEvent):
            sizes.clear()  # anchors belong to one document
            continue
        if isinstance(event, CollectionEndEvent):
            done = stack.pop()
            if done.anchor is not None:
                sizes[done.anchor] = done.size
            if stack:
                stack[-1].size += done.size
            continue
        if not isinstance(event, NodeEvent):
            continue
        part = _place(stack, event)
        if isinstance(event, CollectionStartEvent):
            stack.append(_Open(event.anchor, part, isinstance(event, MappingStartEvent)))
            continue
        if isinstance(event, AliasEvent):
            name = str(event.anchor)
            if any(frame.anchor == name for frame in stack):
                message = f"alias *{name} is used inside the node it names (a recursive structure)"
                _refuse(event, stack, part, file, message)
            size = sizes.get(name, 1)
            added += size
            if added > MAX_ALIAS_NODES:
                _refuse(
                    event,
                    stack,
                    part,
                    file,
                    f"alias *{name} expands to {size:,} nodes, which makes aliases add more "
                    f"than {MAX_ALIAS_NODES:,} nodes to the document (a YAML bomb?)",
                )
        else:
            size = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        if stack:
            stack[-1].size += size


def _place(stack: list[_Open], event: Any) -> PathPart | None:
    """Where the node of ``event`` goes in the open collection; None for a mapping key."""
    if not stack:
        return None
    parent = stack[-1]
    if not parent.is_mapping:
        parent.index += 1
        return parent.index - 1
    if parent.at_key:
        parent.at_key = False
        parent.key = str(event.value) if isinstance(event, ScalarEvent) else "?"
        return None
    parent.at_key = True
    return parent.key


def _refuse(
    event: Any, stack: list[_Open], part: PathPart | None, file: str, message: str
) -> NoReturn:
    path = [frame.part for frame in stack[1:]] + [part]
    shown = format_path([p for p in path if p is not None])
    mark = event.start_mark
    raise ManifestError([Diagnostic(file, mark.line + 1, mark.column + 1, shown, message)])


def _line(text: str, index: int) -> str:
    """Line ``index`` (0-based) of ``text``, without its line break; "" past the end."""
    lines = text.split("\n", index + 1)
    return lines[index].removesuffix("\r") if index < len(lines) else ""


def _tab(text: str, mark: Any, problem: str) -> tuple[int, int] | None:
    """Where the tab is, when a tab is what the parser stumbled on."""
    if mark is None:
        return None
    line = _line(text, mark.line)
    if mark.column < len(line) and line[mark.column] == "\t":
        return mark.line + 1, mark.column + 1
    if "tab character" not in problem and "'\\t'" not in problem:
        return None
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    column = indent.find("\t") if "\t" in indent else mark.column
    return mark.line + 1, column + 1


def _runaway_quote(tokens: Iterable[Any], mark: Any) -> ScalarToken | None:
    """The quoted string that spans lines and ends just before ``mark``, where the parser
    failed: most likely one whose closing quote is missing, closed by the next quote."""
    where = (mark.line, mark.column)
    last = None
    try:
        for token in tokens:
            if (token.start_mark.line, token.start_mark.column) >= where:
                break
            last = token
    except YAMLError:
        pass
    if (
        isinstance(last, ScalarToken)
        and last.style in ("'", '"')
        and last.end_mark.line > last.start_mark.line
    ):
        return last
    return None


def syntax_diagnostic(
    exc: MarkedYAMLError, text: str, file: str, tokens: Iterable[Any]
) -> Diagnostic:
    """A diagnostic for the parser's error on ``text``, located where the user must look.
    ``tokens`` are the text's tokens, read lazily (only up to the error, if at all)."""
    mark = exc.problem_mark or exc.context_mark
    problem = (exc.problem or "").strip()
    context = (exc.context or "").strip()
    tab = _tab(text, exc.problem_mark, problem)
    if tab is not None:
        message = "invalid YAML: a tab character; YAML indentation must use spaces"
        return Diagnostic(file, *tab, "", message)
    opened = exc.context_mark
    if (
        opened is not None
        and context.startswith("while scanning a quoted scalar")
        and ("end of stream" in problem or "document indicator" in problem)
    ):
        message = "invalid YAML: quoted string opened here is never closed"
        return Diagnostic(file, opened.line + 1, opened.column + 1, "", message)
    runaway = _runaway_quote(tokens, exc.problem_mark) if exc.problem_mark else None
    if runaway is not None:
        start, end = runaway.start_mark, runaway.end_mark
        message = (
            f"invalid YAML: quoted string opened here runs on to line {end.line + 1}; "
            "is its closing quote missing?"
        )
        return Diagnostic(file, start.line + 1, start.column + 1, "", message)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    message = "invalid YAML: " + (
        f"{problem} ({context})" if context and problem else problem or context
    )
    return Diagnostic(file, line, column, "", message)
