"""The published JSON Schema: in sync with the models, and accepting every example."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
from ruamel.yaml import YAML

from qplan.manifest.schema import manifest_json_schema_text
from tests.conftest import EXAMPLES, MANIFEST_EXAMPLES, REPO

SCHEMA_FILE = REPO / "schemas" / "manifest.schema.json"


def test_committed_schema_matches_the_models() -> None:
    assert SCHEMA_FILE.read_text() == manifest_json_schema_text(), (
        "schemas/manifest.schema.json is stale: run `qplan schema > schemas/manifest.schema.json`"
    )


def test_committed_plan_schema_matches_the_models() -> None:
    from qplan.planner.document import plan_json_schema_text

    committed = (REPO / "schemas" / "plan.schema.json").read_text()
    assert committed == plan_json_schema_text(), (
        "schemas/plan.schema.json is stale: run `qplan schema plan > schemas/plan.schema.json`"
    )


def test_schema_command_prints_it() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "qplan", "schema"], capture_output=True, text=True, check=True
    ).stdout
    assert out == SCHEMA_FILE.read_text()


@pytest.mark.parametrize("example", MANIFEST_EXAMPLES)
def test_examples_are_valid_under_the_schema_and_point_to_it(example: str) -> None:
    path = EXAMPLES / example / "qplan.yaml"
    first = path.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/manifest.schema.json"
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    errors = [
        f"{list(e.path)}: {e.message}" for e in validator.iter_errors(YAML(typ="safe").load(path))
    ]
    assert errors == []


def test_schema_rejects_what_the_models_reject() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    bad = {
        "version": 1,
        "stack": "x",
        "jobs": {"a": {"program": "p", "shots": 0, "shotz": 1, "timeout": "soon"}},
    }
    paths = sorted(tuple(e.path) for e in validator.iter_errors(bad))
    assert paths == [("jobs", "a"), ("jobs", "a", "shots"), ("jobs", "a", "timeout")]
