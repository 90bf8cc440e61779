"""Load a manifest: read, parse, template, validate, resolve. All problems in one report.

Order: YAML (positions kept) -> vars with ``--var-file`` then ``--var`` overrides ->
templates rendered -> each entry validated by its model -> programs read -> resolution.
Entries that fail validation are left out of resolution, so one bad job does not hide
the problems of the others, and references to it are not reported as unknown.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from qplan.errors import Diagnostic, ManifestError, UsageError
from qplan.manifest.diagnose import describe, validation_diagnostics
from qplan.manifest.models import (
    JobSpec,
    LocalProvider,
    Manifest,
    ProgramSpec,
    ProviderConfig,
    SessionSpec,
    Spending,
    _check_name,
)
from qplan.manifest.programs import Program, ProgramError, ProgramProblem, load_program
from qplan.manifest.resolve import Stack, resolve
from qplan.manifest.sweep import DEFAULT_MAX_POINTS
from qplan.manifest.templating import TemplateFailure, Templater
from qplan.manifest.yamlsource import PathPart, YamlDocument, format_path, load_yaml, read_text

__all__ = ["load", "parse_var"]

_SECTIONS: dict[str, Any] = {
    "providers": ProviderConfig,
    "programs": ProgramSpec,
    "sessions": SessionSpec,
    "jobs": JobSpec,
}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def _adapter(section: str) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(section)
    if adapter is None:
        adapter = _ADAPTERS[section] = TypeAdapter(_SECTIONS[section])
    return adapter


def parse_var(text: str) -> tuple[str, Any]:
    """``--var NAME=VALUE``: the value is read as a YAML scalar or flow collection
    (``500`` is an integer, ``'"500"'`` a string, ``[1, 2]`` a list)."""
    name, eq, raw = text.partition("=")
    name = name.strip()
    if not eq or not name:
        raise UsageError(f"--var {text!r}: expected NAME=VALUE")
    try:
        doc = load_yaml(raw, "--var")
    except ManifestError:
        return name, raw
    if doc.diagnostics or isinstance(doc.data, dict):
        return name, raw
    return name, "" if doc.data is None else doc.data


class _Loader:
    def __init__(self, doc: YamlDocument, path: Path, environ: Mapping[str, str]) -> None:
        self.doc = doc
        self.path = path
        self.diagnostics: list[Diagnostic] = list(doc.diagnostics)
        self.templater = Templater(environ)
        self.failed: set[tuple[PathPart, ...]] = set()
        self.template_diagnostics: list[Diagnostic] = []
        self.command_line: list[Diagnostic] = []  # about a --var, not about a file

    def report(self, path: Sequence[PathPart], message: str, *, key: bool = False) -> None:
        self.diagnostics.append(self.doc.diagnostic(path, message, key=key))

    def validation_errors(
        self, errors: Sequence[Any], base: Sequence[PathPart], data: dict[str, Any]
    ) -> None:
        self.diagnostics.extend(
            validation_diagnostics(errors, self.doc, base, data, self.templater.is_secret)
        )

    def without_knock_on_errors(self) -> list[Diagnostic]:
        """The diagnostics, less those at or under a value whose template failed: that value
        is missing, and the template's own error already says why."""
        failed = [format_path(f) for f in self.failed]

        def knock_on(d: Diagnostic) -> bool:
            return any(d.path == f or d.path.startswith((f + ".", f + "[")) for f in failed)

        return [d for d in self.diagnostics if d in self.template_diagnostics or not knock_on(d)]

    def describe(self, path: Sequence[PathPart], value: Any) -> str:
        return describe(value, self.templater.is_secret(path))

    def render(self, value: Any, path: list[PathPart]) -> Any:
        if isinstance(value, str):
            try:
                return self.templater.render(value, path)
            except TemplateFailure as exc:
                if not exc.silent:
                    self.report(path, str(exc))
                    self.template_diagnostics.append(self.diagnostics[-1])
                self.failed.add(tuple(path))
                return None
        if isinstance(value, dict):
            return {k: self.render(v, [*path, k]) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, [*path, i]) for i, v in enumerate(value)]
        return value

    def apply_vars(
        self, data: dict[str, Any], var_files: Sequence[Path], overrides: Sequence[str]
    ) -> dict[str, Any]:
        raw = data.get("vars")
        declared: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
        rendered: dict[str, Any] = {}
        for name, value in declared.items():
            rendered[name] = self.render(value, ["vars", name])
            if ("vars", name) in self.failed:
                self.templater.failed_vars.add(name)
            if self.templater.is_secret(["vars", name]):
                self.templater.tainted_vars.add(name)
        for var_file in var_files:
            display = str(var_file)
            vdoc = load_yaml(read_text(var_file, display), display)
            self.diagnostics.extend(vdoc.diagnostics)
            if vdoc.data is None:
                continue
            if not isinstance(vdoc.data, dict):
                self.diagnostics.append(
                    vdoc.diagnostic([], "a var file must be a mapping of NAME: VALUE")
                )
                continue
            for name, value in vdoc.data.items():
                if name not in declared:
                    self.diagnostics.append(
                        vdoc.diagnostic(
                            [name], f"not declared in vars of {self.doc.file}", key=True
                        )
                    )
                    continue
                rendered[name] = value
                self.templater.tainted_vars.discard(name)
                self.templater.failed_vars.discard(name)
        for text in overrides:
            name, value = parse_var(text)
            if name not in declared:
                known = ", ".join(declared) or "none"
                self.command_line.append(
                    Diagnostic(
                        "--var",
                        0,
                        0,
                        name,
                        f"not declared in vars of {self.doc.file} (declared: {known})",
                    )
                )
                self.diagnostics.append(self.command_line[-1])
                continue
            rendered[name] = value
            self.templater.tainted_vars.discard(name)
            self.templater.failed_vars.discard(name)
        self.templater.set_vars(rendered)
        return rendered

    def section(self, data: dict[str, Any], section: str) -> tuple[dict[str, Any], set[str]]:
        """Validate each entry of a section on its own; returns the valid ones and all names."""
        entries = data.get(section)
        if not isinstance(entries, dict):
            return {}, set()
        valid: dict[str, Any] = {}
        adapter = _adapter(section)
        for name, entry in entries.items():
            try:
                _check_name(name)
            except ValueError as exc:
                self.report([section, name], f"invalid name {describe(name)}: {exc}", key=True)
                continue
            try:
                valid[name] = adapter.validate_python(entry)
            except ValidationError as exc:
                self.validation_errors(exc.errors(include_url=False), [section, name], data)
        return valid, set(entries)

    def program(self, name: str, spec: ProgramSpec) -> Program | None:
        try:
            return load_program(name, spec, self.path.parent, self.path)
        except ProgramProblem as exc:
            path: list[PathPart] = ["programs", name]
            if exc.file is not None:
                file = _display(exc.file)
                for error in exc.errors:
                    self.diagnostics.append(
                        Diagnostic(file, error.line, error.column, format_path(path), error.message)
                    )
            elif exc.key == "source" and spec.source is not None:
                self.source_problems([*path, "source"], spec.source, exc.errors)
            else:
                for error in exc.errors:
                    self.report([*path, exc.key] if exc.key else path, error.message)
            return None

    def source_problems(
        self, path: list[PathPart], source: str, errors: Sequence[ProgramError]
    ) -> None:
        """Problems in a program written in the manifest, at their place in the manifest
        when its text is there verbatim, else at the ``source`` value, saying where."""
        located = [e for e in errors if e.line > 0]
        places = self.doc.text_positions(path, source, [(e.line, e.column) for e in located])
        if places is None:
            for error in errors:
                where = f" (line {error.line}, column {error.column} of the source)"
                self.report(path, error.message + (where if error.line > 0 else ""))
            return
        shown = format_path(path)
        for error, (line, column) in zip(located, places, strict=True):
            self.diagnostics.append(Diagnostic(self.doc.file, line, column, shown, error.message))
        for error in errors:
            if error.line <= 0:
                self.report(path, error.message)

    def report_file(self, file: Path, line: int, message: str, path: Sequence[PathPart]) -> None:
        self.diagnostics.append(
            Diagnostic(_display(file), line, 1 if line else 0, format_path(path), message)
        )


def _display(file: Path) -> str:
    try:
        return os.path.relpath(file)
    except ValueError:  # pragma: no cover - another drive on Windows
        return str(file)


def load(
    path: str | Path,
    *,
    var_files: Sequence[str | Path] = (),
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    max_sweep_points: int = DEFAULT_MAX_POINTS,
) -> Stack:
    """Load and check the manifest at ``path``. Raises ManifestError with every problem
    found (exit code 64 when an override names an undeclared variable), or UsageError for
    a malformed ``--var``."""
    display = str(path)
    file = Path(path)
    doc = load_yaml(read_text(file, display), display)
    data = doc.data
    if data is None:
        raise ManifestError(
            [
                *doc.diagnostics,
                Diagnostic(
                    display,
                    1,
                    1,
                    "",
                    "the manifest is empty; expected a mapping with version, stack and jobs",
                ),
            ]
        )
    if not isinstance(data, dict):
        raise ManifestError(
            [
                *doc.diagnostics,
                doc.diagnostic([], f"the manifest must be a mapping, got {describe(data)}"),
            ]
        )
    loader = _Loader(doc, file.resolve(), os.environ if environ is None else environ)
    variables = loader.apply_vars(data, [Path(f) for f in var_files], overrides)
    rendered: dict[str, Any] = {
        key: (variables if key == "vars" else loader.render(value, [key]))
        for key, value in data.items()
    }
    # The head: top-level keys, version, stack, vars and each section's type. Sections are
    # emptied here and validated entry by entry below.
    head = {k: ({} if k in _SECTIONS and isinstance(v, dict) else v) for k, v in rendered.items()}
    try:
        Manifest.model_validate(head)
    except ValidationError as exc:
        has_jobs = isinstance(rendered.get("jobs"), dict) and bool(rendered["jobs"])
        errors = [
            e
            for e in exc.errors(include_url=False)
            if not (has_jobs and e["loc"] == ("jobs",) and e["type"] == "too_short")
        ]
        loader.validation_errors(errors, [], rendered)
    spending = _spending(rendered)
    sections = {name: loader.section(rendered, name) for name in _SECTIONS}
    providers: dict[str, ProviderConfig] = dict(sections["providers"][0])
    provider_names = set(sections["providers"][1])
    if "local" not in provider_names:
        providers["local"] = LocalProvider(type="local")
        provider_names.add("local")
    programs: dict[str, Program] = {}
    for name, spec in sections["programs"][0].items():
        program = loader.program(name, spec)
        if program is not None:
            programs[name] = program
    names = {
        "providers": provider_names,
        "programs": sections["programs"][1],
        "sessions": sections["sessions"][1],
        "jobs": sections["jobs"][1],
    }
    stack = resolve(
        stack=str(rendered.get("stack")),
        path=file.resolve(),
        vars=variables,
        providers=providers,
        programs=programs,
        sessions=sections["sessions"][0],
        jobs=sections["jobs"][0],
        names=names,
        max_points=max_sweep_points,
        report=loader.report,
        report_file=loader.report_file,
        describe=loader.describe,
    )
    if loader.diagnostics or stack is None:
        diagnostics = loader.without_knock_on_errors()
        if not diagnostics:  # pragma: no cover - resolve reports whenever it fails
            diagnostics.append(Diagnostic(display, 0, 0, "", "invalid manifest"))
        command_line = any(d in loader.command_line for d in diagnostics)
        raise ManifestError(diagnostics, command_line=command_line)
    return dataclasses.replace(
        stack, document=doc, budget=spending.budget, pricing=spending.pricing
    )


def _spending(rendered: Mapping[str, Any]) -> Spending:
    """The manifest's ``budget`` and ``pricing``; their errors are the head's, reported."""
    given = {key: rendered[key] for key in ("budget", "pricing") if key in rendered}
    try:
        return Spending.model_validate(given)
    except ValidationError:
        return Spending()
