"""Jinja2 templating of manifest values, sandboxed and strict.

Rules:

- Every string value of the manifest (never a key) is a template. Strings without ``{{``,
  ``{%`` or ``{#`` are left alone without touching Jinja.
- A string that is exactly one ``{{ expression }}`` takes the expression's value with its
  type: ``shots: "{{ vars.shots }}"`` is the integer 200 when ``vars.shots`` is 200.
  Any other template renders to a string.
- The context is ``vars`` (after ``--var-file`` and ``--var`` overrides) and ``env(NAME
  [, default])``. An undefined name is an error (StrictUndefined), never an empty string.
- Values read through ``env()`` are secrets as far as qplan knows: every path whose value
  used one (directly or through a var) is recorded in ``tainted`` and never shown.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from qplan.manifest.diagnose import did_you_mean
from qplan.manifest.yamlsource import PathPart

__all__ = ["TemplateFailure", "Templater"]

_MARKERS = ("{{", "{%", "{#")
_SINGLE = re.compile(r"\s*\{\{(.*)\}\}\s*", re.DOTALL)


class TemplateFailure(Exception):
    """A template could not be rendered; the message is ready for a user. ``silent`` when
    the cause was already reported (the template reads a var whose own template failed)."""

    def __init__(self, message: str, *, silent: bool = False) -> None:
        super().__init__(message)
        self.silent = silent


class _FailedVar(Exception):
    pass


class _Vars(dict[str, Any]):
    """The ``vars`` namespace; reading a var that came from env() taints the result."""

    def __init__(self, values: Mapping[str, Any], templater: Templater) -> None:
        super().__init__(values)
        self._templater = templater

    def __getitem__(self, key: str) -> Any:
        if key in self._templater.failed_vars:
            raise _FailedVar(key)
        value = super().__getitem__(key)
        if key in self._templater.tainted_vars:
            self._templater.touched_env = True
        return value


class _Undefined(StrictUndefined):
    @property
    def _undefined_message(self) -> str:
        name = self._undefined_name
        obj = self._undefined_obj
        if isinstance(obj, _Vars):
            return f"vars.{name} is undefined{did_you_mean(str(name), obj)}"
        if obj is not missing or self._undefined_hint:
            return super()._undefined_message
        if name is not None:
            hint = did_you_mean(str(name), ["vars", "env"])
            return f"{name!r} is undefined{hint}; templates can use vars.NAME and env('NAME')"
        return super()._undefined_message


class Templater:
    """Renders manifest values. ``tainted`` collects the paths of values derived from env()."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ
        self.jinja = ImmutableSandboxedEnvironment(
            undefined=_Undefined, keep_trailing_newline=True, autoescape=False
        )
        self.jinja.globals["env"] = self._env
        self.context: dict[str, Any] = {"vars": _Vars({}, self)}
        self.tainted: set[tuple[PathPart, ...]] = set()
        self.tainted_vars: set[str] = set()
        self.failed_vars: set[str] = set()
        self.touched_env = False
        self._cache: dict[str, Any] = {}

    def set_vars(self, values: Mapping[str, Any]) -> None:
        self.context = {"vars": _Vars(values, self)}

    def is_secret(self, path: Sequence[PathPart]) -> bool:
        if not self.tainted:
            return False
        return any(tuple(path[:i]) in self.tainted for i in range(1, len(path) + 1))

    def _env(self, name: Any, default: Any = None) -> Any:
        if not isinstance(name, str) or not name:
            raise TemplateFailure("env() needs the name of an environment variable")
        self.touched_env = True
        value = self.environ.get(name)
        if value is None:
            if default is None:
                raise TemplateFailure(f"environment variable {name} is not set")
            return default
        return value

    def render(self, text: str, path: Sequence[PathPart]) -> Any:
        """Render one string value. Raises TemplateFailure with a user-facing message."""
        if not any(marker in text for marker in _MARKERS):
            return text
        self.touched_env = False
        try:
            value = self._render(text)
        except TemplateFailure:
            raise
        except _FailedVar as exc:
            raise TemplateFailure(f"uses vars.{exc} which failed", silent=True) from None
        except UndefinedError as exc:
            raise TemplateFailure(f"template error: {exc.message}") from None
        except TemplateSyntaxError as exc:
            raise TemplateFailure(f"template syntax error: {exc.message}") from None
        except SecurityError as exc:
            raise TemplateFailure(f"template not allowed: {exc}") from None
        except TemplateError as exc:
            raise TemplateFailure(f"template error: {exc.message}") from None
        except Exception as exc:  # errors of the expression itself: 1/0, "a" + 1, ...
            raise TemplateFailure(f"template error: {type(exc).__name__}: {exc}") from None
        if self.touched_env:
            self.tainted.add(tuple(path))
        return value

    def _render(self, text: str) -> Any:
        compiled = self._cache.get(text)
        if compiled is None:
            single = _SINGLE.fullmatch(text)
            expr = single.group(1) if single else None
            if expr is not None and not any(tok in expr for tok in ("{{", "}}", "{%", "{#")):
                compiled = self.jinja.compile_expression(expr, undefined_to_none=False)
            else:
                compiled = self.jinja.from_string(text)
            self._cache[text] = compiled
        if isinstance(compiled, Template):
            return compiled.render(**self.context)
        value = compiled(**self.context)
        if isinstance(value, StrictUndefined):
            _fail(value)
        return value


def _fail(value: StrictUndefined) -> NoReturn:
    value._fail_with_undefined_error()
    raise AssertionError("unreachable")  # pragma: no cover
