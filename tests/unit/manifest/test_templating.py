"""Templates, vars, overrides, env() and the secrecy of environment values."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import qplan
from qplan.manifest.templating import TemplateFailure, Templater
from tests.conftest import RY

BASE = """\
version: 1
stack: t
vars:
  shots: 100
  theta: 0.5
  label: "007"
programs:
  ry:
    format: openqasm3
    source: |
{program}
jobs:
  a:
    target: local/braket_sv
    program: ry
    shots: "{{{{ vars.shots }}}}"
    inputs: {{theta: "{{{{ vars.theta }}}}"}}
    tags: {{label: "{{{{ vars.label }}}}", name: "run-{{{{ vars.shots }}}}"}}
"""


def manifest(write: Callable[..., Path], text: str = BASE) -> Path:
    program = "\n".join("      " + line for line in RY.splitlines())
    return write(text.format(program=program))


def test_single_expression_keeps_the_type(write: Callable[..., Path]) -> None:
    job = qplan.load(manifest(write)).jobs["a"]
    assert job.spec.shots == 100
    assert job.inputs == {"theta": 0.5}
    assert job.spec.tags == {"label": "007", "name": "run-100"}  # a quoted string stays a string


def test_var_overrides_are_read_as_yaml(write: Callable[..., Path], tmp_path: Path) -> None:
    var_file = tmp_path / "more.yaml"
    var_file.write_text("shots: 300\ntheta: 1\n")
    stack = qplan.load(manifest(write), var_files=[var_file], overrides=["shots=500"])
    job = stack.jobs["a"]
    assert job.spec.shots == 500  # --var wins over --var-file
    assert job.inputs == {"theta": 1.0}
    stack = qplan.load(manifest(write), overrides=['label="0012"'])
    assert stack.jobs["a"].spec.tags["label"] == "0012"


def test_undeclared_override_is_an_error(write: Callable[..., Path], tmp_path: Path) -> None:
    with pytest.raises(qplan.ManifestError, match=r"--var: shotz: not declared in vars"):
        qplan.load(manifest(write), overrides=["shotz=1"])
    var_file = tmp_path / "v.yaml"
    var_file.write_text("\nthetaa: 1\n")
    with pytest.raises(qplan.ManifestError) as info:
        qplan.load(manifest(write), var_files=[var_file])
    (diag,) = info.value.diagnostics
    assert (diag.file, diag.line, diag.column, diag.path) == (str(var_file), 2, 1, "thetaa")


def test_malformed_var_is_a_usage_error(write: Callable[..., Path]) -> None:
    with pytest.raises(qplan.UsageError, match="expected NAME=VALUE"):
        qplan.load(manifest(write), overrides=["shots"])


def test_env_with_default_and_missing(write: Callable[..., Path]) -> None:
    text = BASE.replace('"{{{{ vars.shots }}}}"', "\"{{{{ env('QPLAN_T_SHOTS', 7) }}}}\"")
    assert qplan.load(manifest(write, text), environ={}).jobs["a"].spec.shots == 7
    stack = qplan.load(manifest(write, text), environ={"QPLAN_T_SHOTS": "42"})
    assert stack.jobs["a"].spec.shots == 42
    text = BASE.replace('"{{{{ vars.shots }}}}"', "\"{{{{ env('QPLAN_T_SHOTS') }}}}\"")
    with pytest.raises(qplan.ManifestError, match="environment variable QPLAN_T_SHOTS is not set"):
        qplan.load(manifest(write, text), environ={})


def test_values_from_env_are_never_shown(write: Callable[..., Path]) -> None:
    secret = "s3cr3t-token-value"
    text = BASE.replace('  label: "007"', '  label: "007"\n  token: "{{{{ env(\'TOKEN\') }}}}"')
    second_job = text.split("jobs:\n")[1].replace("  a:", "  b:")
    text = text.replace('shots: "{{{{ vars.shots }}}}"', 'shots: "{{{{ vars.token }}}}"')
    text += second_job.replace('theta: "{{{{ vars.theta }}}}"', "theta: \"{{{{ env('TOKEN') }}}}\"")
    with pytest.raises(qplan.ManifestError) as info:
        qplan.load(manifest(write, text), environ={"TOKEN": secret})
    output = str(info.value)
    assert secret not in output
    assert output.count("a value read from the environment") == 2


def test_undefined_names_are_errors_with_suggestions(write: Callable[..., Path]) -> None:
    text = BASE.replace('vars.shots }}}}"\n    inputs', 'vars.shotz }}}}"\n    inputs')
    with pytest.raises(qplan.ManifestError) as info:
        qplan.load(manifest(write, text))
    (diag,) = info.value.diagnostics
    assert diag.path == "jobs.a.shots"
    assert 'vars.shotz is undefined (did you mean "shots"?)' in diag.message
    assert (diag.line, diag.column) == (21, 12)


def test_sandbox_blocks_attribute_escapes() -> None:
    templater = Templater({})
    with pytest.raises(TemplateFailure, match=r"not allowed|unsafe|undefined"):
        templater.render("{{ ''.__class__.__mro__[1].__subclasses__() }}", ["x"])


def test_template_errors_never_escape() -> None:
    templater = Templater({})
    for bad in ("{{ 1/0 }}", "{{ 'a' + 1 }}", "{% for %}", "{{ nope }}", "{{ env(3) }}"):
        with pytest.raises(TemplateFailure):
            templater.render(bad, ["x"])


def test_raw_blocks_keep_braces() -> None:
    assert Templater({}).render("{% raw %}{{ x }}{% endraw %}", ["x"]) == "{{ x }}"
