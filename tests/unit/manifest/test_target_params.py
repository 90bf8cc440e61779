"""A job's ``params:``: checked against the input parameters qplan knows its target to take,
each problem at its key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import qplan
from qplan.targets import ParamKind, target_params

HEAD = """\
version: 1
stack: p
providers:
  az:
    type: azure
    resource_id: /subscriptions/s/resourceGroups/g/providers/Microsoft.Quantum/Workspaces/w
    location: eastus
  aws: {type: braket, region: us-east-1, s3_bucket: results}
  pq: {type: pasqal, project_id: project}
programs:
  bell: {format: openqasm3, source: "OPENQASM 3.0; qubit q; bit c; c = measure q;"}
  seq: {format: pasqal.pulser.v1, source: '{"sequence_builder": {}}'}
  pulser: {format: pulser, path: seq.json}
jobs:
"""


PULSER = '{"register": [], "channels": {}, "operations": [], "variables": {}}'


def job(target: str, params: str, program: str = "bell") -> str:
    return (
        f"  j:\n    target: {target}\n    program: {program}\n    shots: 10\n    params: {params}\n"
    )


def problems(write: Callable[..., Path], target: str, params: str, program: str = "bell") -> list:
    path = write(HEAD + job(target, params, program), **{"seq.json": PULSER})
    with pytest.raises(qplan.ManifestError) as info:
        qplan.load(path)
    return [(d.path, d.message) for d in info.value.diagnostics]


def test_known_params_pass_as_written(write: Callable[..., Path]) -> None:
    cases = {
        "az/ionq.simulator": "{noise: {model: aria-1, seed: 3}}",
        "az/ionq.qpu.forte-1": "{error_mitigation: {debias: false}}",
        "az/quantinuum.sim.h2-1e": (
            "{error-model: false, simulator: stabilizer, error-params: {p1: 0.001}, no-opt: true}"
        ),
        "az/rigetti.sim.qvm": "{skipQuilc: true}",
    }
    for target, params in cases.items():
        stack = qplan.load(write(HEAD + job(target, params), **{"seq.json": PULSER}))
        written = stack.jobs["j"].params
        assert written and written == stack.jobs["j"].spec.params


@pytest.mark.parametrize(
    ("target", "params", "expected"),
    [
        (
            "az/ionq.simulator",
            "{nosie: {model: ideal}}",
            [
                (
                    "jobs.j.params.nosie",
                    "unknown param 'nosie' for az/ionq.simulator (did you mean \"noise\"?); "
                    "known: noise, error_mitigation",
                )
            ],
        ),
        (
            "az/ionq.simulator",
            "{noise: {model: forte1, sead: 1}}",
            [
                (
                    "jobs.j.params.noise.model",
                    "must be one of ideal, harmony, aria-1, aria-2, forte-1, forte-enterprise-1 "
                    "(did you mean \"forte-1\"?), got 'forte1'",
                ),
                (
                    "jobs.j.params.noise.sead",
                    'unknown key (did you mean "seed"?); known: model, seed',
                ),
            ],
        ),
        (
            "az/ionq.simulator",
            "{noise: {seed: -1}, error_mitigation: yes}",
            [
                (
                    "jobs.j.params.noise",
                    "needs model (the QPU whose noise is simulated)",
                ),
                ("jobs.j.params.noise.seed", "must be a non-negative integer, got -1"),
                ("jobs.j.params.error_mitigation", "must be a mapping, got 'yes'"),
            ],
        ),
        (
            "az/quantinuum.sim.h2-1e",
            "{error-model: 0, simulator: [stabilizer], error-params: p1}",
            [
                ("jobs.j.params.error-model", "must be true or false, got 0"),
                (
                    "jobs.j.params.simulator",
                    "must be one of state-vector, stabilizer, got a list",
                ),
                ("jobs.j.params.error-params", "must be a mapping, got 'p1'"),
            ],
        ),
        (
            "az/rigetti.sim.qvm",
            "{count: 10, skipQuilc: 'true'}",
            [
                (
                    "jobs.j.params.count",
                    "qplan sets the shot count itself: use the job's shots, not params",
                ),
                ("jobs.j.params.skipQuilc", "must be true or false, got 'true'"),
            ],
        ),
    ],
)
def test_azure_params_are_checked_at_their_keys(
    write: Callable[..., Path], target: str, params: str, expected: list
) -> None:
    assert problems(write, target, params) == expected


def test_targets_without_params(write: Callable[..., Path]) -> None:
    assert problems(write, "local/braket_sv", "{noise: {model: ideal}}") == [
        (
            "jobs.j.params.noise",
            "local/braket_sv takes no params (the local simulators have none that qplan knows)",
        )
    ]
    assert problems(write, "aws/sv1", "{shots: 5, x: 1}") == [
        (
            "jobs.j.params.shots",
            "qplan sets the shot count itself: use the job's shots, not params",
        ),
        ("jobs.j.params.x", "aws/sv1 takes no params (Braket devices have none that qplan knows)"),
    ]
    assert problems(write, "az/pasqal.sim.emu-tn", "{runs: 5}", program="seq") == [
        ("jobs.j.params.runs", "qplan sets the shot count itself: use the job's shots, not params")
    ]
    assert problems(write, "pq/EMU_FREE", "{x: 1}", program="pulser")[-1] == (
        "jobs.j.params.x",
        "pq/EMU_FREE takes no params (pasqal devices have none that qplan knows)",
    )


def test_params_are_located_in_the_manifest(write: Callable[..., Path]) -> None:
    path = write(HEAD + job("az/ionq.simulator", "{noise: {model: aria}}"), **{"seq.json": PULSER})
    with pytest.raises(qplan.ManifestError) as info:
        qplan.load(path)
    (diagnostic,) = info.value.diagnostics
    assert (diagnostic.line, diagnostic.column) == (19, 29)  # at aria


def test_the_table_documents_every_param() -> None:
    for vendor in ("ionq", "quantinuum", "rigetti", "pasqal"):
        for param in target_params("azure", f"{vendor}.x").values():
            assert param.description
            assert (param.kind is ParamKind.CHOICE) == bool(param.choices)
            assert (param.kind is ParamKind.MAPPING) == bool(param.fields)
            assert all(f.description for f in param.fields)
    assert target_params("azure", "pasqal.sim.emu-tn") == {}
    assert target_params("local", "braket_sv") == {}
    assert target_params("braket", "sv1") == {}
