"""Programs: read once per load, parsed for their declared parameters.

A program file is resolved relative to the manifest's folder. Its content, never its path,
is what later fingerprints a job. Problems inside a program are reported at their line
and column in the program text: the loader places them in the program file, or, for a
program written in the manifest (``source:``), in the manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qplan.manifest.hybrid_source import SourceProblem, entry_module_files, pack_source
from qplan.manifest.models import ProgramSpec
from qplan.manifest.params import Parameter
from qplan.manifest.pulser_targets import read_targets
from qplan.targets import FORMATS, FormatKind

if TYPE_CHECKING:  # the parsers load when a program needs them
    from qplan.manifest.qasm import QasmSyntaxError
    from qplan.manifest.qsharp import QsharpSyntaxError

__all__ = ["Program", "ProgramError", "ProgramProblem", "load_program"]

_PULSER_KEYS = ("register", "channels", "operations", "variables")


@dataclass(frozen=True)
class Program:
    """A loaded program. ``text`` is str, or bytes for binary formats (QIR bitcode).

    ``entry`` is the operation a Q# program runs (its arguments are ``parameters``), or a
    hybrid job's entry point (``module:function``), None for the other formats.

    A hybrid job's program (``braket.hybrid``): ``text`` is its source as a deterministic
    gzipped tar (``hybrid_source``), ``path`` the folder or file it was made of.

    ``digest`` identifies what the program means, not how it is written: it hashes a
    canonical form, so edits that cannot change a result do not change it. OpenQASM 3: the
    token sequence (comments, indentation and line breaks do not count). Pulser and JSON
    formats: the parsed JSON with sorted keys (whitespace and key order do not count). Q#:
    the token sequence, as OpenQASM 3 (the entry is not part of it: fingerprints add it).
    Other text formats: line endings, trailing spaces and blank edges do not count. Binary:
    the bytes. Hybrid: every shipped file's path, mode and bytes (what is left out does not
    count).
    """

    name: str
    format: str
    text: str | bytes
    path: Path | None
    parameters: Mapping[str, Parameter] = field(default_factory=dict)
    digest: str = ""
    entry: str | None = None


@dataclass(frozen=True, slots=True)
class ProgramError:
    """One problem at a 1-based line and column of the program text; 0 when unknown."""

    line: int
    column: int
    message: str


class ProgramProblem(Exception):
    """A program cannot be used. ``errors`` lists its problems: the one given by ``message``,
    ``line`` and ``column``, then ``more``. ``file`` is the program file, None when the
    program is in the manifest itself; ``key`` says which key of the program entry the
    problems belong to (``source``, ``path``), "" for the whole entry."""

    def __init__(
        self,
        message: str,
        *,
        file: Path | None = None,
        line: int = 0,
        column: int = 0,
        key: str = "",
        more: Sequence[ProgramError] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.errors = (ProgramError(line, column, message), *more)


def load_program(
    name: str, spec: ProgramSpec, base_dir: Path, manifest: Path | None = None
) -> Program:
    """Read and parse one program; ``manifest``, the manifest's resolved path, is never
    packed into a hybrid job's source. Raises ProgramProblem."""
    info = FORMATS[spec.format]
    if info.kind is FormatKind.HYBRID:
        return _hybrid(name, spec, base_dir, manifest)
    path: Path | None = None
    text: str | bytes
    if spec.path is not None:
        path = (base_dir / spec.path).resolve()
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ProgramProblem(f"file not found: {spec.path}", key="path") from None
        except OSError as exc:
            raise ProgramProblem(f"cannot read {spec.path}: {exc.strerror}", key="path") from None
        if info.kind is FormatKind.BINARY:
            text = raw
        else:
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ProgramProblem(
                    f"{spec.path} is not UTF-8 text, as format {spec.format} requires", key="path"
                ) from None
    else:
        assert spec.source is not None
        if info.kind is FormatKind.BINARY:
            raise ProgramProblem(
                f"format {spec.format} is binary: give a path to the file, not source", key="source"
            )
        text = spec.source
    if not text.strip() if isinstance(text, str) else not text:
        raise ProgramProblem("the program is empty", file=path, key="" if path else "source")
    parameters: dict[str, Parameter] = {}
    canonical: str | bytes
    if isinstance(text, bytes):
        canonical = text
    elif info.kind is FormatKind.OPENQASM3:
        parameters, canonical = _openqasm3(text, path)
    elif info.kind is FormatKind.QSHARP:
        parameters, canonical = _qsharp(text, spec.entry, path)
    elif info.kind in (FormatKind.PULSER, FormatKind.JSON):
        doc = _json(text, path)
        if info.kind is FormatKind.PULSER:
            parameters = _pulser(doc, path)
        canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    else:
        lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
        canonical = "\n".join(lines).strip("\n")
    data = canonical if isinstance(canonical, bytes) else canonical.encode()
    digest = hashlib.blake2b(spec.format.encode() + b"\0" + data, digest_size=16).hexdigest()
    return Program(name, spec.format, text, path, parameters, digest, spec.entry)


def _hybrid(name: str, spec: ProgramSpec, base_dir: Path, manifest: Path | None) -> Program:
    """A hybrid job's source, packed, with its entry point's module found in it."""
    assert spec.path is not None and spec.entry_point is not None  # the model checks both
    path = (base_dir / spec.path).resolve()
    if not path.exists():
        raise ProgramProblem(f"not found: {spec.path} (a folder or one .py file)", key="path")
    try:
        source = pack_source(path, manifest)
    except SourceProblem as exc:
        raise ProgramProblem(
            exc.message, file=exc.file, line=exc.line, column=1 if exc.line else 0, key="path"
        ) from None
    wanted = entry_module_files(spec.entry_point)
    if not set(wanted) & set(source.members):
        module = spec.entry_point.partition(":")[0]
        where = f"folder {path.name}" if path.is_dir() else f"file {path.name}"
        first = path.name if path.is_dir() else path.stem
        hint = f"; the source's modules start with {first}" if module.split(".")[0] != first else ""
        raise ProgramProblem(
            f"module {module} is not in the source ({where}): expected {' or '.join(wanted)}{hint}",
            key="entry_point",
        )
    return Program(name, spec.format, source.archive, path, {}, source.digest, spec.entry_point)


def _openqasm3(text: str, path: Path | None) -> tuple[dict[str, Parameter], str]:
    from qplan.manifest.qasm import QasmSyntaxError, read_program

    try:
        return read_program(text)
    except QasmSyntaxError as exc:
        raise _syntax_problem(exc, path) from None


def _syntax_problem(exc: QasmSyntaxError | QsharpSyntaxError, path: Path | None) -> ProgramProblem:
    """A program's syntax errors, the first located and the others listed with it."""
    return ProgramProblem(
        exc.message,
        file=path,
        line=exc.line,
        column=exc.column,
        key="" if path else "source",
        more=[ProgramError(*error) for error in exc.errors[1:]],
    )


def _qsharp(text: str, entry: str | None, path: Path | None) -> tuple[dict[str, Parameter], str]:
    from qplan.manifest.qsharp import EntryNotFound, QsharpSyntaxError, read_program

    try:
        return read_program(text, entry)
    except QsharpSyntaxError as exc:
        raise _syntax_problem(exc, path) from None
    except EntryNotFound as exc:
        raise ProgramProblem(str(exc), key="entry") from None


def _json(text: str, path: Path | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProgramProblem(
            f"invalid JSON: {exc.msg}",
            file=path,
            line=exc.lineno,
            column=exc.colno,
            key="" if path else "source",
        ) from None


def _pulser(doc: Any, path: Path | None) -> dict[str, Parameter]:
    """Declared variables of a Pulser abstract representation, plus ``qubits`` when the
    register is mappable (its traps are chosen at build time, for some or all of its
    qubits)."""
    key = "" if path else "source"
    if not isinstance(doc, dict) or any(k not in doc for k in _PULSER_KEYS):
        missing = [k for k in _PULSER_KEYS if not isinstance(doc, dict) or k not in doc]
        raise ProgramProblem(
            "not a Pulser sequence in abstract representation "
            f"(missing {', '.join(missing)}); export one with Sequence.to_abstract_repr()",
            file=path,
            line=1,
            column=1,
            key=key,
        )
    params: dict[str, Parameter] = {}
    variables = doc["variables"]
    if not isinstance(variables, dict):
        raise ProgramProblem("'variables' must be a mapping", file=path, line=1, column=1, key=key)
    for var_name, var in sorted(variables.items()):
        vtype = var.get("type") if isinstance(var, dict) else None
        value = var.get("value") if isinstance(var, dict) else None
        if vtype not in ("float", "int") or not isinstance(value, list) or not value:
            raise ProgramProblem(
                f"variable {var_name!r} must have type float or int and a list value",
                file=path,
                line=1,
                column=1,
                key=key,
            )
        size = len(value)
        params[var_name] = Parameter(var_name, vtype, None if size == 1 else size)
    register = doc["register"]
    if (
        isinstance(register, list)
        and register
        and all(isinstance(q, dict) and "qid" in q and "x" not in q for q in register)
    ):
        layout = doc.get("layout")
        coords = layout.get("coordinates") if isinstance(layout, dict) else None
        if not isinstance(coords, list) or not coords:
            raise ProgramProblem(
                "a mappable register needs a layout with coordinates",
                file=path,
                line=1,
                column=1,
                key=key,
            )
        if "qubits" in params:
            raise ProgramProblem(
                "a variable named 'qubits' clashes with the mappable register's qubits",
                file=path,
                line=1,
                column=1,
                key=key,
            )
        qids = tuple(str(q["qid"]) for q in register)
        params["qubits"] = Parameter(
            "qubits",
            "qubits",
            len(qids),
            traps=len(coords),
            qids=qids,
            targets=read_targets(doc["operations"]),
        )
    return params
