"""Q#: the entry operation's parameters, the coercion of values to their types, and the
entry expression that binds them.

Pure text processing, no qdk: a program is read once per manifest load by a small Q#
tokenizer (comments and strings skipped), enough to find the operations it declares,
namespaces included, and to read the entry operation's signature. qdk compiles the
program later, and reports its own errors then.

A Q# program's parameters are its entry operation's arguments, bound by name as OpenQASM
``input``s are. The types qplan binds: ``Int`` (64 bits), ``Double``, ``Bool``, ``Pauli``,
arrays ``T[]`` (nested too) and tuples ``(T1, T2)`` of those. A bound value is coerced once
to its type (``3`` for a Double is ``3.0``; arrays and tuples are lists), then written as a
Q# literal: the entry expression is ``Sweep.Run(3, 0.5, [true, false], (1, 2.0), PauliX)``,
the arguments in the order of the declaration.

qdk takes an operation named ``Main``, or marked ``@EntryPoint()``, as a program's own
entry point and refuses one with parameters: such an operation is reported here, at
validate time, with the way out (rename it, and name it in ``entry``).
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from qplan.manifest.diagnose import did_you_mean
from qplan.manifest.params import Parameter

__all__ = [
    "EntryNotFound",
    "QsharpSyntaxError",
    "QsharpType",
    "entry_expression",
    "entry_parameters",
    "read_program",
]

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
PAULIS = ("PauliI", "PauliX", "PauliY", "PauliZ")

_SPACE = re.compile(r"\s+")
_NAME = re.compile(r"'?[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(
    r"0[xXoObB][0-9A-Fa-f_]+L?|[0-9][0-9_]*(?:\.(?!\.)[0-9_]*)?(?:[eE][+-]?[0-9]+)?L?"
)
_SUPPORTED = "qplan binds Int, Double, Bool, Pauli, and arrays (T[]) and tuples ((T1, T2)) of those"

Kind = Literal["Int", "Double", "Bool", "Pauli", "array", "tuple"]

_PLAIN = {
    "Int": "an integer",
    "Double": "a finite number",
    "Bool": "true or false",
    "Pauli": "one of PauliI, PauliX, PauliY, PauliZ",
}
_PLURAL = {"Int": "integers", "Double": "numbers", "Bool": "booleans", "Pauli": "Paulis"}


class QsharpSyntaxError(Exception):
    """``errors`` are (line, column, message), 1-based positions in the program text;
    ``line``, ``column`` and ``message`` are those of the first."""

    def __init__(self, errors: Sequence[tuple[int, int, str]]) -> None:
        super().__init__(errors[0][2])
        self.errors = tuple(errors)
        self.line, self.column, self.message = errors[0]


class EntryNotFound(Exception):
    """The program declares no operation of the entry's name (the message says which it
    declares)."""


@dataclass(frozen=True, slots=True)
class QsharpType:
    """A Q# type qplan binds: a scalar, an array of ``items[0]``, or a tuple of ``items``."""

    kind: Kind
    items: tuple[QsharpType, ...] = ()

    def __str__(self) -> str:
        if self.kind == "array":
            return f"{self.items[0]}[]"
        if self.kind == "tuple":
            inner = ", ".join(str(t) for t in self.items)
            return f"({inner},)" if len(self.items) == 1 else f"({inner})"
        return self.kind

    def plain(self) -> str:
        """What a value of this type is, in the manifest's terms: ``a list of numbers``."""
        if self.kind == "array":
            return f"a list of {self.items[0].plural()}"
        if self.kind == "tuple":
            return f"a list of {len(self.items)}: {', '.join(str(t) for t in self.items)}"
        return _PLAIN[self.kind]

    def plural(self) -> str:
        if self.kind == "array":
            return f"lists of {self.items[0].plural()}"
        if self.kind == "tuple":
            return f"lists of {len(self.items)} ({', '.join(str(t) for t in self.items)})"
        return _PLURAL[self.kind]

    def describe(self) -> str:
        return f"{self.plain()} (Q# {self})"

    def coerce(self, value: Any) -> Any:
        """The canonical value of ``value`` for this type; ValueError says why not. Ints
        are ints, Doubles finite floats (``-0.0`` folded to ``0.0``), Paulis their full
        names (``X`` is ``PauliX``), arrays and tuples lists."""
        try:
            return self._coerce(value)
        except _Mismatch as exc:
            if not exc.where:
                raise ValueError(f"must be {self.describe()}") from None
            raise ValueError(
                f"must be {self.describe()}: item {exc.where} must be {exc.expected.plain()}"
            ) from None

    def _coerce(self, value: Any) -> Any:
        if self.kind in ("array", "tuple"):
            if not isinstance(value, list | tuple):
                raise _Mismatch(self)
            if self.kind == "tuple" and len(value) != len(self.items):
                raise _Mismatch(self)
            types = self.items if self.kind == "tuple" else self.items * len(value)
            out = []
            for index, (item_type, item) in enumerate(zip(types, value, strict=True)):
                try:
                    out.append(item_type._coerce(item))
                except _Mismatch as exc:
                    raise _Mismatch(exc.expected, f"[{index}]{exc.where}") from None
            return out
        return _scalar(self.kind, value)

    def literal(self, value: Any) -> str:
        """``value`` written as a Q# literal of this type: ``3``, ``1.0``, ``1e-05``,
        ``true``, ``PauliX``, ``[1.0, 2.0]``, ``(1, 2.0)``, ``(1,)``. ValueError when the
        value does not have this type."""
        return self._literal(self.coerce(value))

    def _literal(self, value: Any) -> str:
        if self.kind == "array":
            return "[" + ", ".join(self.items[0]._literal(v) for v in value) + "]"
        if self.kind == "tuple":
            inner = ", ".join(t._literal(v) for t, v in zip(self.items, value, strict=True))
            return f"({inner},)" if len(self.items) == 1 else f"({inner})"
        if self.kind == "Bool":
            return "true" if value else "false"
        if self.kind == "Double":
            return repr(value)  # finite: always a point or an exponent, as Q# wants
        return str(value)


_SCALAR_TYPES = {
    "Int": QsharpType("Int"),
    "Double": QsharpType("Double"),
    "Bool": QsharpType("Bool"),
    "Pauli": QsharpType("Pauli"),
}


class _Mismatch(Exception):
    """A value (or the item of a value at ``where``, ``[1][0]``) is not of ``expected``."""

    def __init__(self, expected: QsharpType, where: str = "") -> None:
        super().__init__(where)
        self.expected = expected
        self.where = where


def _scalar(kind: str, value: Any) -> Any:
    if kind == "Int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and INT_MIN <= value <= INT_MAX:
            return value
    elif kind == "Double":
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if math.isfinite(number):
                return number + 0.0  # folds -0.0 to 0.0
    elif kind == "Bool":
        if isinstance(value, bool):
            return value
    elif kind == "Pauli" and isinstance(value, str):
        name = value if value.startswith("Pauli") else f"Pauli{value}"
        if name in PAULIS:
            return name
    raise _Mismatch(_SCALAR_TYPES[kind])


# --- reading a program ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: Literal["name", "number", "string", "symbol"]
    text: str
    start: int
    end: int


class _Text:
    """A program's text with its line starts, for 1-based positions of offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1

    def error(self, offset: int, message: str) -> QsharpSyntaxError:
        return QsharpSyntaxError([(*self.position(offset), message)])


def _string_end(source: _Text, start: int) -> int:
    """The offset after the string literal at ``start`` (``"..."``, or ``$"..."`` whose
    ``{...}`` may hold strings of their own)."""
    text = source.text
    interpolated = text[start] == "$"
    i = start + (2 if interpolated else 1)
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
        elif char == '"':
            return i + 1
        elif interpolated and char == "{":
            i = _braces_end(source, i)
        else:
            i += 1
    raise source.error(start, "Q# syntax error: a string is not closed")


def _braces_end(source: _Text, start: int) -> int:
    text = source.text
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char == '"' or text.startswith('$"', i):
            i = _string_end(source, i)
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise source.error(start, "Q# syntax error: an interpolation is not closed")


def _tokens(source: _Text) -> list[_Token]:
    text = source.text
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        space = _SPACE.match(text, i)
        if space:
            i = space.end()
            continue
        if text.startswith("//", i):
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
            continue
        if text[i] == '"' or text.startswith('$"', i):
            end = _string_end(source, i)
            tokens.append(_Token("string", text[i:end], i, end))
            i = end
            continue
        name = _NAME.match(text, i)
        if name:
            tokens.append(_Token("name", name.group(), i, name.end()))
            i = name.end()
            continue
        number = _NUMBER.match(text, i)
        if number:
            tokens.append(_Token("number", number.group(), i, number.end()))
            i = number.end()
            continue
        tokens.append(_Token("symbol", text[i], i, i + 1))
        i += 1
    return tokens


@dataclass(frozen=True, slots=True)
class _Param:
    name: _Token
    qtype: QsharpType | None  # None: a type qplan does not bind
    spelling: str
    start: int  # offset of the type


@dataclass(frozen=True, slots=True)
class _Callable:
    name: str  # qualified: Sweep.Run
    token: _Token
    params: tuple[_Param, ...]
    entry_point: bool  # marked @EntryPoint()


class _Reader:
    """Declarations of a program: callables at namespace level (or the top), with their
    parameters."""

    def __init__(self, source: _Text) -> None:
        self.source = source
        self.tokens = _tokens(source)
        self.at = 0

    def peek(self, ahead: int = 0) -> _Token | None:
        index = self.at + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def is_(self, text: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token is not None and token.text == text

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise self.source.error(len(self.source.text), "Q# syntax error: unexpected end")
        self.at += 1
        return token

    def expect(self, text: str, what: str) -> _Token:
        token = self.peek()
        if token is None or token.text != text:
            offset = len(self.source.text) if token is None else token.start
            found = "the end" if token is None else f"{token.text!r}"
            raise self.source.error(offset, f"Q# syntax error: expected {what}, found {found}")
        return self.take()

    def after_dot(self) -> bool:
        return self.at > 0 and self.tokens[self.at - 1].text == "."

    def callables(self) -> list[_Callable]:
        found: list[_Callable] = []
        namespaces: list[tuple[str, int]] = []  # name, brace depth inside it
        opened: list[_Token] = []
        entry_point = False
        while (token := self.peek()) is not None:
            level = namespaces[-1][1] if namespaces else 0
            if token.text == "{":
                opened.append(self.take())
            elif token.text == "}":
                if not opened:
                    raise self.source.error(token.start, "Q# syntax error: unmatched '}'")
                opened.pop()
                self.take()
                if namespaces and len(opened) < namespaces[-1][1]:
                    namespaces.pop()
            elif token.kind == "name" and token.text == "namespace" and len(opened) == level:
                self.take()
                namespace = self.dotted()
                opened.append(self.expect("{", "'{' after the namespace name"))
                prefix = f"{namespaces[-1][0]}." if namespaces else ""
                namespaces.append((prefix + namespace, len(opened)))
            elif token.text == "@" and len(opened) == level:
                self.take()
                attribute = self.take()
                entry_point = entry_point or attribute.text == "EntryPoint"
            elif (
                token.kind == "name"
                and token.text in ("operation", "function")
                and len(opened) == level
                and not self.after_dot()
            ):
                self.take()
                name = self.take()
                if name.kind != "name":
                    raise self.source.error(name.start, "Q# syntax error: expected a name")
                qualified = f"{namespaces[-1][0]}.{name.text}" if namespaces else name.text
                params = self.signature()
                found.append(_Callable(qualified, name, params, entry_point))
                entry_point = False
            else:
                self.take()
        if opened:
            raise self.source.error(opened[-1].start, "Q# syntax error: unclosed '{'")
        return found

    def dotted(self) -> str:
        first = self.take()
        if first.kind != "name":
            raise self.source.error(first.start, "Q# syntax error: expected a name")
        parts = [first.text]
        while self.is_(".") and (after := self.peek(1)) is not None and after.kind == "name":
            self.take()
            parts.append(self.take().text)
        return ".".join(parts)

    def signature(self) -> tuple[_Param, ...]:
        if self.is_("<"):  # type parameters
            while not self.is_(">"):
                self.take()
            self.take()
        self.expect("(", "'(' and the parameters")
        params: list[_Param] = []
        while not self.is_(")"):
            token = self.peek()
            if token is not None and token.text == "(":
                raise self.source.error(
                    token.start,
                    "nested parameter tuples are not supported: declare the parameters one by one",
                )
            name = self.take()
            if name.kind != "name":
                raise self.source.error(name.start, "Q# syntax error: expected a parameter name")
            self.expect(":", "':' and the parameter's type")
            start = self.peek()
            qtype = self.type_()
            assert start is not None
            end = self.tokens[self.at - 1].end
            spelling = " ".join(self.source.text[start.start : end].split())
            params.append(_Param(name, qtype, spelling, start.start))
            if not self.is_(")"):
                self.expect(",", "',' or ')'")
        self.take()
        return tuple(params)

    def type_(self) -> QsharpType | None:
        """A type, from its first token to its last; None for one qplan does not bind
        (Qubit, Result, String, callables, user types, type parameters...)."""
        token = self.take()
        qtype: QsharpType | None
        if token.text == "(":
            items: list[QsharpType | None] = []
            trailing = False
            while not self.is_(")"):
                items.append(self.type_())
                trailing = False
                if not self.is_(")"):
                    self.expect(",", "',' or ')' in a tuple type")
                    trailing = True
            self.take()
            if len(items) == 1 and not trailing:
                qtype = items[0]  # a type in parentheses
            elif items and all(item is not None for item in items):
                qtype = QsharpType("tuple", tuple(i for i in items if i is not None))
            else:
                qtype = None  # Unit, or a tuple of something qplan does not bind
        elif token.kind == "name":
            self.at -= 1
            name = self.dotted()
            qtype = _SCALAR_TYPES.get(name)
        else:
            raise self.source.error(token.start, "Q# syntax error: expected a type")
        while self.is_("[") and self.is_("]", 1):
            self.take()
            self.take()
            qtype = None if qtype is None else QsharpType("array", (qtype,))
        if (self.is_("-") or self.is_("=")) and self.is_(">", 1):  # a callable type
            self.take()
            self.take()
            self.type_()
            if self.is_("is"):
                self.take()
                self.characteristics()
            qtype = None
        return qtype

    def characteristics(self) -> None:
        """``Adj + Ctl``, ``(Adj * Ctl)``: skipped up to the end of the type."""
        depth = 0
        while (token := self.peek()) is not None:
            if token.text in (",", ")", "]") and depth == 0:
                return
            if token.text == "(":
                depth += 1
            elif token.text == ")":
                depth -= 1
            self.take()


def read_program(text: str, entry: str | None) -> tuple[dict[str, Parameter], str]:
    """The entry operation's parameters by name, in declaration order, and the program's
    canonical text (its tokens joined by single spaces: comments, indentation and line
    breaks do not count). Raises QsharpSyntaxError (located in ``text``), EntryNotFound."""
    source = _Text(text)
    reader = _Reader(source)
    declared = reader.callables()
    canonical = " ".join(token.text for token in reader.tokens)
    for callable_ in declared:
        own = callable_.entry_point or callable_.name.rpartition(".")[2] == "Main"
        if own and callable_.params:
            marked = "marked @EntryPoint()" if callable_.entry_point else "named Main"
            raise source.error(
                callable_.token.start,
                f"qdk takes an operation {marked} as the program's own entry point, and "
                "refuses one with parameters: "
                + ("remove @EntryPoint()" if callable_.entry_point else "rename it (Run, say)")
                + " and name it in the program's entry",
            )
    names = [c.name for c in declared]
    chosen = next((c for c in declared if c.name == entry), None)
    if chosen is None:
        if not names:
            raise EntryNotFound(f"the program declares no operation (entry: {entry})")
        qualified = [n for n in names if n.endswith(f".{entry}")]
        hint = (
            f' (did you mean "{qualified[0]}"? its namespace is part of its name)'
            if len(qualified) == 1
            else did_you_mean(entry or "", names)
        )
        raise EntryNotFound(
            f"the program declares no operation {entry!r}{hint}; it declares: {', '.join(names)}"
        )
    params: dict[str, Parameter] = {}
    for param in chosen.params:
        name = param.name.text
        if param.qtype is None:
            raise source.error(
                param.start,
                f"parameter {name!r} of {chosen.name} has type {param.spelling}; {_SUPPORTED}",
            )
        if name in params:
            raise source.error(param.name.start, f"parameter {name!r} is declared twice")
        line, _ = source.position(param.name.start)
        params[name] = Parameter(name, "qsharp", line=line, qsharp=param.qtype)
    return params, canonical


@functools.lru_cache(maxsize=64)
def _cached_parameters(source: str, entry: str) -> tuple[Parameter, ...]:
    try:
        params, _ = read_program(source, entry)
    except QsharpSyntaxError as exc:
        raise ValueError(f"line {exc.line}, column {exc.column}: {exc.message}") from None
    except EntryNotFound as exc:
        raise ValueError(str(exc)) from None
    return tuple(params.values())


def entry_parameters(source: str, entry: str) -> dict[str, Parameter]:
    """The parameters of ``entry`` in Q# ``source``, in declaration order (for a provider,
    which gets the program and its entry in a dispatch). ValueError says what is wrong."""
    return {p.name: p for p in _cached_parameters(source, entry)}


def entry_expression(entry: str, params: Mapping[str, Parameter], values: Mapping[str, Any]) -> str:
    """The Q# expression that runs ``entry`` with ``values``: ``Sweep.Run(3, 0.5)``, the
    arguments in the order of ``params`` (the declaration's), each coerced to its type and
    written as a Q# literal. ValueError for a value missing, unknown or of the wrong type."""
    unknown = sorted(set(values) - set(params))
    if unknown:
        raise ValueError(f"{entry} has no parameter {', '.join(map(repr, unknown))}")
    args: list[str] = []
    for name, param in params.items():
        if param.qsharp is None:
            raise ValueError(f"parameter {name!r} is not a Q# parameter")
        if name not in values:
            raise ValueError(f"no value for parameter {name!r} of {entry}")
        try:
            args.append(param.qsharp.literal(values[name]))
        except ValueError as exc:
            raise ValueError(f"parameter {name!r} of {entry}: {exc}") from None
    return f"{entry}({', '.join(args)})"
