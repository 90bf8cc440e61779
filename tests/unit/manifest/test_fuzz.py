"""Fuzzing the loader: whatever the input, the result is a Stack or a ManifestError with
located diagnostics, never another exception (which the CLI would show as a crash)."""

from __future__ import annotations

import copy
import io
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

import qplan
from qplan.manifest import Stack

VALID: dict[str, Any] = {
    "version": 1,
    "stack": "fuzz",
    "vars": {"shots": 10, "theta": 0.5},
    "programs": {
        "ry": {
            "format": "openqasm3",
            "source": "OPENQASM 3.0;\ninput float theta;\nqubit q;\nry(theta) q;\n",
        },
        "bell": {"format": "openqasm3", "source": "OPENQASM 3.0;\nqubit[2] q;\nh q[0];\n"},
    },
    "sessions": {"s": {"target": "local/braket_sv", "on_job_failure": "continue"}},
    "jobs": {
        "a": {"target": "local/braket_sv", "program": "bell", "shots": "{{ vars.shots }}"},
        "b": {
            "session": "s",
            "program": "ry",
            "shots": 5,
            "after": ["a"],
            "sweep": {"grid": {"theta": {"linspace": [0, 1, 3]}}},
            "retry": {"attempts": 2, "backoff": "1s"},
        },
    },
}

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def load_text(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.yaml"
        path.write_bytes(data)
        try:
            stack = qplan.load(path, environ={"X": "1"})
        except qplan.ManifestError as exc:
            assert exc.diagnostics
            for d in exc.diagnostics:
                assert d.message
                assert d.line >= 0 and d.column >= 0
        else:
            assert isinstance(stack, Stack)


def test_the_base_manifest_is_valid() -> None:
    buf = io.StringIO()
    YAML(typ="safe").dump(VALID, buf)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.yaml"
        path.write_text(buf.getvalue())
        assert qplan.load(path).instance_count == 4


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    load_text(data)


YAMLISH = st.text(
    alphabet=st.sampled_from(list("abcjobsvrtg:-[]{},'\"!&*#|>%@`\t\n 0123456789.{}~<=\\")),
    max_size=200,
)


@SETTINGS
@given(YAMLISH)
def test_yaml_like_text(text: str) -> None:
    load_text(("version: 1\nstack: f\n" + text).encode())


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "{{ vars.shots }}",
            "{{ nope }}",
            "{{ 1/0 }}",
            "{% if %}",
            "{{ env('X') }}",
            "a/b",
            "local/braket_sv",
            "local/qutip",
            "10s",
            "abort",
            "ry",
            "bell",
            "s",
            "a",
            "b",
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@SETTINGS
@given(st.data())
def test_mutated_manifests(data: st.DataObject) -> None:
    manifest = copy.deepcopy(VALID)
    paths = [p for p in _paths(manifest) if p]
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(paths))
        parent: Any = manifest
        try:
            for part in path[:-1]:
                parent = parent[part]
            if data.draw(st.booleans()) and isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent[path[-1]] = data.draw(VALUES)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    buf = io.StringIO()
    YAML(typ="safe", pure=True).dump(manifest, buf)
    load_text(buf.getvalue().encode())
