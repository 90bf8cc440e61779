"""OpenQASM 3: syntax check and ``input`` declarations, with the reference parser.

The program is parsed once per manifest load (never once per sweep point) with the
``openqasm3`` package, the reference grammar that Braket's simulators use too. Every
syntax error of a program is reported (up to MAX_SYNTAX_ERRORS), at its line and column
in the program text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from qplan.manifest.params import Parameter, ParamKind

__all__ = ["MAX_SYNTAX_ERRORS", "QasmSyntaxError", "read_program"]

MAX_SYNTAX_ERRORS = 20
"""Syntax errors shown per program; the last one shown says how many more there are."""

# antlr's "expecting {...}" after an unexpected token lists every token that could come
# next: some sixty at the start of a statement. Only short lists help.
_EXPECTING = re.compile(r" expecting \{(.*)\}$")
_MAX_EXPECTED = 6


class QasmSyntaxError(Exception):
    """``errors`` are (line, column, message), 1-based positions in the program text,
    sorted by position; ``line``, ``column`` and ``message`` are those of the first."""

    def __init__(self, errors: Sequence[tuple[int, int, str]]) -> None:
        super().__init__(errors[0][2])
        self.errors = tuple(errors)
        self.line, self.column, self.message = errors[0]


def _error(line: int, column: int, message: str) -> QasmSyntaxError:
    return QasmSyntaxError([(line, column, message)])


def _shown(errors: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """One error per position, the first MAX_SYNTAX_ERRORS of them; the last one says how
    many are left out. At a position where antlr reports twice, its "no viable alternative
    at input 'rx(thetaq'" (the tokens run together) gives way to the other message."""
    by_place: dict[tuple[int, int], tuple[int, int, str]] = {}
    for error in errors:
        seen = by_place.get(error[:2])
        if seen is None or "no viable alternative" in seen[2]:
            by_place[error[:2]] = error
    errors = sorted(by_place.values(), key=lambda e: (e[0], e[1]))
    shown = errors[:MAX_SYNTAX_ERRORS]
    hidden = len(errors) - len(shown)
    if hidden:
        line, column, message = shown[-1]
        more = f" (and {hidden} more syntax error{'s' if hidden > 1 else ''} after this one)"
        shown[-1] = (line, column, message + more)
    return shown


def _syntax_message(msg: str) -> str:
    expecting = _EXPECTING.search(msg)
    if expecting and expecting[1].count(",") >= _MAX_EXPECTED:
        msg = msg[: expecting.start()]
    return f"OpenQASM 3 syntax error: {msg}"


def _parse(text: str) -> tuple[Any, str]:
    """The AST and the canonical text: the program's tokens joined by single spaces, so
    comments, indentation and line breaks do not count."""
    from antlr4 import CommonTokenStream, InputStream, Token
    from antlr4.error.ErrorListener import ErrorListener
    from openqasm3._antlr.qasm3Lexer import qasm3Lexer
    from openqasm3._antlr.qasm3Parser import qasm3Parser
    from openqasm3.parser import QASMNodeVisitor

    errors: list[tuple[int, int, str]] = []

    class Listener(ErrorListener):  # type: ignore[misc]
        """Collects every error; antlr recovers and goes on parsing."""

        def syntaxError(  # noqa: N802 - antlr's name
            self, recognizer: object, offending: object, line: int, column: int, msg: str, e: object
        ) -> None:
            errors.append((line, column + 1, _syntax_message(msg)))

    lexer = qasm3Lexer(InputStream(text))
    lexer.removeErrorListeners()
    lexer.addErrorListener(Listener())
    stream = CommonTokenStream(lexer)
    parser = qasm3Parser(stream)
    parser.removeErrorListeners()
    parser.addErrorListener(Listener())
    tree = parser.program()
    if errors:
        raise QasmSyntaxError(_shown(errors))
    canonical = " ".join(
        tok.text
        for tok in stream.tokens
        if tok.channel == Token.DEFAULT_CHANNEL and tok.type != Token.EOF
    )
    try:
        return QASMNodeVisitor().visitProgram(tree), canonical  # type: ignore[no-untyped-call]
    except QasmSyntaxError:
        raise
    except Exception as exc:
        raise _error(0, 0, f"invalid OpenQASM 3: {exc}") from None


def read_program(text: str) -> tuple[dict[str, Parameter], str]:
    """The program's ``input`` declarations by name, and its canonical text.
    Raises QasmSyntaxError."""
    from openqasm3 import ast

    program, canonical = _parse(text)
    params: dict[str, Parameter] = {}
    for statement in program.statements:
        if not isinstance(statement, ast.IODeclaration):
            continue
        if statement.io_identifier != ast.IOKeyword.input:
            continue
        span = statement.span
        line = span.start_line if span else 0
        column = span.start_column + 1 if span else 0
        name = statement.identifier.name
        kind, size = _kind(statement.type, ast)
        if kind is None:
            raise _error(
                line,
                column,
                f"input {name!r} has type {type(statement.type).__name__}; qplan binds inputs "
                "of types float, angle, int, uint, bool, bit[n] and 1-D arrays of those",
            )
        if name in params:
            raise _error(line, column, f"input {name!r} is declared twice")
        params[name] = Parameter(name, kind, size, line)
    return params, canonical


def _size(node: Any, ast: Any) -> int | None:
    if node is None:
        return None
    if isinstance(node, ast.IntegerLiteral):
        return int(node.value)
    return -1  # a size given by an expression: not statically known


def _kind(qtype: Any, ast: Any) -> tuple[ParamKind | None, int | None]:
    if isinstance(qtype, ast.FloatType | ast.AngleType):
        return "float", None
    if isinstance(qtype, ast.IntType):
        return "int", None
    if isinstance(qtype, ast.UintType):
        return "uint", None
    if isinstance(qtype, ast.BoolType):
        return "bool", None
    if isinstance(qtype, ast.BitType):
        size = _size(qtype.size, ast)
        if size is None:
            return "bit", None
        return ("bits", size) if size > 0 else (None, None)
    if isinstance(qtype, ast.ArrayType):
        if len(qtype.dimensions) != 1:
            return None, None
        base, _ = _kind(qtype.base_type, ast)
        size = _size(qtype.dimensions[0], ast)
        if base in ("float", "int", "uint", "bool") and size is not None and size > 0:
            return base, size
    return None, None
