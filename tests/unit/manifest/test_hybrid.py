"""Hybrid jobs in the manifest: what a valid one resolves to, and each mistake located."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import qplan
from qplan.manifest.hybrid import DEFAULT_INSTANCE, DEFAULT_MAX_RUNTIME, HybridSpec, InputChannel

SOURCE = {"vqe__algorithm.py": "def main():\n    print('hi')\n", "vqe____init__.py": ""}

HEAD = """\
version: 1
stack: hy
programs:
  vqe:
    format: braket.hybrid
    path: vqe
    entry_point: vqe.algorithm:main
  bell:
    format: openqasm3
    source: "OPENQASM 3.0; qubit q; h q;"
jobs:
"""


def load(write: Callable[..., Path], jobs: str, **files: str) -> qplan.Stack:
    return qplan.load(write(HEAD + jobs, **{**SOURCE, **files}))


def problems(
    write: Callable[..., Path], jobs: str, **files: str
) -> list[tuple[int, int, str, str]]:
    with pytest.raises(qplan.ManifestError) as info:
        load(write, jobs, **files)
    return [(d.line, d.column, d.path, d.message) for d in info.value.diagnostics]


def test_a_hybrid_job_resolves_to_its_spec_and_hyperparameters(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    stack = load(
        write,
        """\
  h2:
    target: local/braket_sv
    program: vqe
    hyperparameters: {iterations: 20, stepsize: 0.1, layout: {a: [1, 2]}}
    sweep: {grid: {bond_length: [0.5, 0.7]}}
    instance: {type: ml.c5.xlarge, volume: 50}
    max_runtime: 1h
    input_data: {molecule: data/h2.json, weights: "s3://bucket/key"}
    checkpoint: "s3://bucket/ckpt"
    image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-image:latest"
""",
        **{"data/h2.json": "{}"},
    )
    job = stack.jobs["h2"]
    assert job.shots == 0 and job.spec.shots is None
    assert job.entry == "vqe.algorithm:main"
    assert job.inputs == {"iterations": 20, "stepsize": 0.1, "layout": {"a": [1, 2]}}
    assert job.hybrid is not None
    (molecule, weights) = job.hybrid.input_data
    assert molecule.name == "molecule" and molecule.path == str(tmp_path / "data" / "h2.json")
    assert molecule.digest and molecule.s3_uri is None
    assert weights == InputChannel("weights", s3_uri="s3://bucket/key")
    assert job.hybrid == HybridSpec(
        entry_point="vqe.algorithm:main",
        instance_type="ml.c5.xlarge",
        instance_count=1,
        volume_gb=50,
        max_runtime=3600.0,
        input_data=(molecule, weights),
        checkpoint="s3://bucket/ckpt",
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/my-image:latest",
    )
    assert [(i.address, i.inputs["bond_length"]) for i in job.instances()] == [
        ("h2[bond_length=0.5]", 0.5),
        ("h2[bond_length=0.7]", 0.7),
    ]
    assert all(i.inputs["iterations"] == 20 for i in job.instances())


def test_defaults_and_devices(write: Callable[..., Path]) -> None:
    providers = "providers:\n  aws: {type: braket, region: us-east-1, s3_bucket: bkt}\n"
    text = HEAD.replace("programs:\n", providers + "programs:\n", 1) + (
        "  a: {target: aws/sv1, program: vqe}\n"
        "  b: {target: local/braket_dm, program: vqe}\n"
        "  c: {target: 'aws/arn:aws:braket:::device/quantum-simulator/amazon/sv1', program: vqe}\n"
    )
    stack = qplan.load(write(text, **SOURCE))
    spec = stack.jobs["a"].hybrid
    assert spec == HybridSpec("vqe.algorithm:main")
    assert (spec.instance_type, spec.max_runtime) == (DEFAULT_INSTANCE, DEFAULT_MAX_RUNTIME)
    assert all(job.hybrid is not None for job in stack.jobs.values())
    assert stack.jobs["a"].inputs == {}


def test_a_single_file_program(write: Callable[..., Path]) -> None:
    text = HEAD.replace(
        "path: vqe\n    entry_point: vqe.algorithm:main", "path: run.py\n    entry_point: run"
    )
    stack = qplan.load(
        write(text + "  a: {target: local/braket_sv, program: vqe}\n", **{"run.py": "print(1)\n"})
    )
    assert stack.jobs["a"].entry == "run"


def test_other_jobs_need_shots_and_refuse_hybrid_keys(write: Callable[..., Path]) -> None:
    assert problems(
        write,
        """\
  q:
    target: local/braket_sv
    program: bell
    hyperparameters: {a: 1}
    max_runtime: 1h
""",
    ) == [
        (13, 5, "jobs.q.shots", "is required"),
        (
            15,
            22,
            "jobs.q.hyperparameters",
            "applies to braket.hybrid programs only (program bell is openqasm3)",
        ),
        (
            16,
            18,
            "jobs.q.max_runtime",
            "applies to braket.hybrid programs only (program bell is openqasm3)",
        ),
    ]


def test_what_a_hybrid_job_refuses(write: Callable[..., Path]) -> None:
    text = """\
  h:
    target: local/braket_sv
    program: vqe
    shots: 100
    inputs: {x: 1}
    params: {y: 1}
    session: s
    sweep: {grid: {t: [1, 2]}, batch: native}
"""
    found = problems(write, text + "sessions:\n  s: {target: local/braket_sv}\n")
    assert [(line, path) for line, _, path, _ in found] == [
        (15, "jobs.h.shots"),
        (16, "jobs.h.inputs"),
        (17, "jobs.h.params"),
        (18, "jobs.h.session"),
        (19, "jobs.h.sweep.batch"),
    ]
    assert "has no shots" in found[0][3]
    assert "one hybrid job per point" in found[4][3]


def test_hyperparameter_values_and_names(write: Callable[..., Path]) -> None:
    long = "x" * 2501
    found = problems(
        write,
        f"""\
  h:
    target: local/braket_sv
    program: vqe
    hyperparameters: {{lr: null, big: {long}, empty: "", lr2: 1}}
    sweep: {{grid: {{lr2: [1, 2]}}}}
""",
    )
    assert [(path, message) for _, _, path, message in found] == [
        ("jobs.h.hyperparameters.lr", "must be a number, text, boolean, list or mapping, got null"),
        (
            "jobs.h.hyperparameters.big",
            "is 2501 characters as the API takes it, above its limit of 2500",
        ),
        ("jobs.h.hyperparameters.empty", "must not be empty: the API takes 1 to 2500 characters"),
        ("jobs.h.sweep.grid.lr2", "lr2 is both in hyperparameters and in the sweep"),
    ]


def test_too_many_hyperparameters(write: Callable[..., Path]) -> None:
    fixed = ", ".join(f"h{i}: {i}" for i in range(99))
    found = problems(
        write,
        f"""\
  h:
    target: local/braket_sv
    program: vqe
    hyperparameters: {{{fixed}}}
    sweep: {{zip: {{a: [1], b: [2]}}}}
""",
    )
    assert found == [
        (15, 22, "jobs.h.hyperparameters", "101 hyperparameters, above the API's limit of 100")
    ]


def test_a_swept_value_is_checked_per_instance_where_the_point_is(
    write: Callable[..., Path],
) -> None:
    long = "y" * 2600
    found = problems(
        write,
        f"""\
  h:
    target: local/braket_sv
    program: vqe
    sweep:
      points:
        - {{t: 1}}
        - {{t: {long}}}
  g:
    target: local/braket_sv
    program: vqe
    sweep: {{grid: {{a: [1, 2], b: [ok, ""]}}}}
""",
    )
    assert [(line, col, path) for line, col, path, _ in found] == [
        (18, 15, "jobs.h.sweep.points[1].t"),
        (22, 39, "jobs.g.sweep.grid.b[1]"),
        (22, 39, "jobs.g.sweep.grid.b[1]"),
    ]
    assert found[0][3].startswith('h[t="yyyy')
    assert found[0][3].endswith(
        "hyperparameter t is 2600 characters as the API takes it, above its limit of 2500"
    )
    assert [message for *_, message in found[1:]] == [
        'g[a=1,b=""]: hyperparameter b must not be empty: the API takes 1 to 2500 characters',
        'g[a=2,b=""]: hyperparameter b must not be empty: the API takes 1 to 2500 characters',
    ]


def test_fields_checked_on_their_own(write: Callable[..., Path]) -> None:
    found = problems(
        write,
        """\
  h:
    target: local/braket_sv
    program: vqe
    instance: {type: m5.large, count: 2, volume: 0}
    max_runtime: 6d
    input_data: {"bad name": x}
    checkpoint: "http://x"
    image: "docker.io/foo"
""",
    )
    assert [(path, message) for _, _, path, message in found] == [
        (
            "jobs.h.instance.type",
            "must be an ml. instance type, such as ml.m5.large, got 'm5.large'",
        ),
        ("jobs.h.instance.count", "must be at most 1, got 2"),
        ("jobs.h.instance.volume", "must be at least 1, got 0"),
        ("jobs.h.max_runtime", "must be from 1s to 5d, the longest a hybrid job may run"),
        (
            "jobs.h.input_data.bad name",
            "invalid name 'bad name': must be 1-64 letters, digits, ., _ or -",
        ),
        (
            "jobs.h.checkpoint",
            "must be an s3:// URI, such as s3://bucket/checkpoints, got 'http://x'",
        ),
        (
            "jobs.h.image",
            "must be an ECR image URI: ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME:TAG, "
            "got 'docker.io/foo'",
        ),
    ]


def test_input_channels_must_exist_or_be_s3(write: Callable[..., Path]) -> None:
    found = problems(
        write,
        """\
  h:
    target: local/braket_sv
    program: vqe
    input_data: {missing: nope/here, web: "https://x/y", bad: "s3://B"}
""",
    )
    assert found == [
        (
            15,
            27,
            "jobs.h.input_data.missing",
            "not found: nope/here (a file or folder, relative to the manifest)",
        ),
        (
            15,
            43,
            "jobs.h.input_data.web",
            "must be a file or folder relative to the manifest, or an s3:// URI",
        ),
        (
            15,
            63,
            "jobs.h.input_data.bad",
            "must be an s3:// URI of a bucket and key, s3://bucket/data",
        ),
    ]


def test_programs_of_format_braket_hybrid(write: Callable[..., Path]) -> None:
    text = """\
version: 1
stack: hy
programs:
  inline: {format: braket.hybrid, source: "print(1)", entry_point: x}
  none: {format: braket.hybrid, path: vqe}
  wrong: {format: braket.hybrid, path: vqe, entry_point: "algorithm:main"}
  gone: {format: braket.hybrid, path: nowhere, entry_point: x}
  text: {format: braket.hybrid, path: notes.txt, entry_point: notes}
  qasm: {format: openqasm3, source: "OPENQASM 3.0;", entry_point: x}
jobs:
  a: {target: local/braket_sv, program: wrong}
"""
    with pytest.raises(qplan.ManifestError) as info:
        qplan.load(write(text, **SOURCE, **{"notes.txt": "x"}))
    found = [(d.line, d.column, d.path, d.message) for d in info.value.diagnostics]
    assert found == [
        (
            4,
            43,
            "programs.inline.source",
            "format braket.hybrid takes a path (a folder or one .py file), not inline source",
        ),
        (
            5,
            9,
            "programs.none.entry_point",
            "is required for format braket.hybrid: module:function, or a module run as a "
            "script (vqe.algorithm:main)",
        ),
        (
            6,
            58,
            "programs.wrong.entry_point",
            "module algorithm is not in the source (folder vqe): expected algorithm.py or "
            "algorithm/__init__.py; the source's modules start with vqe",
        ),
        (7, 39, "programs.gone.path", "not found: nowhere (a folder or one .py file)"),
        (8, 39, "programs.text.path", "notes.txt is neither a folder nor a .py file"),
        (
            9,
            67,
            "programs.qasm.entry_point",
            "applies to format braket.hybrid only (a program of format openqasm3 has no "
            "entry point)",
        ),
    ]


def test_a_bad_ignore_file_is_located_in_it(write: Callable[..., Path]) -> None:
    with pytest.raises(qplan.ManifestError) as info:
        load(
            write,
            "  a: {target: local/braket_sv, program: vqe}\n",
            **{"vqe__.qplanignore": "# data\n*.csv\n!keep.csv\n"},
        )
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.file.endswith(".qplanignore")
    assert (diagnostic.line, diagnostic.path) == (3, "programs.vqe")
    assert "negated patterns (!keep.csv) are not supported" in diagnostic.message


def test_a_hybrid_job_is_refused_where_its_tasks_cannot_go(write: Callable[..., Path]) -> None:
    found = problems(write, "  a: {target: local/qutip, program: vqe}\n")
    assert found == [
        (
            12,
            37,
            "jobs.a.program",
            "program vqe is braket.hybrid, which local/qutip cannot run (it runs pulser)",
        )
    ]
