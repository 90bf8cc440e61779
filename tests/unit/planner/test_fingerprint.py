"""Fingerprints change with what determines a result, and with nothing else."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import qplan
from qplan.planner import JobFingerprinter, idempotency_key

BASE = """\
version: 1
stack: fp
programs:
  p:
    format: openqasm3
    source: |
{program}
jobs:
  j:
    target: {target}
    program: p
    shots: {shots}
    inputs: {inputs}
{extra}
"""
PROGRAM = "OPENQASM 3.0;\ninput float theta;\ninput int n;\nqubit q;\nry(theta) q;\n"


def fingerprint(
    write: Callable[..., Path],
    *,
    program: str = PROGRAM,
    target: str = "local/braket_sv",
    shots: int = 100,
    inputs: str = "{theta: 0.5, n: 2}",
    extra: str = "",
) -> str:
    body = "\n".join("      " + line for line in program.splitlines())
    text = BASE.format(program=body, target=target, shots=shots, inputs=inputs, extra=extra)
    job = qplan.load(write(text)).jobs["j"]
    return JobFingerprinter(job)(job.name)


def test_canonical_inputs(write: Callable[..., Path]) -> None:
    base = fingerprint(write)
    assert fingerprint(write, inputs="{n: 2, theta: 0.5}") == base  # key order
    assert fingerprint(write, inputs="{theta: 5e-1, n: 2.0}") == base  # number spelling
    assert fingerprint(write, inputs="{theta: 0.5000000001, n: 2}") != base


def test_program_meaning_not_layout(write: Callable[..., Path]) -> None:
    base = fingerprint(write)
    reformatted = (
        "// a comment\nOPENQASM 3.0;\n\n  input float theta; /* block */\ninput int n;\n"
        "qubit   q;\nry( theta )   q;   // trailing\n"
    )
    assert fingerprint(write, program=reformatted) == base
    assert fingerprint(write, program=PROGRAM.replace("ry(", "rx(")) != base


def test_what_determines_the_result(write: Callable[..., Path]) -> None:
    base = fingerprint(write)
    assert fingerprint(write, shots=101) != base
    assert fingerprint(write, target="local/braket_dm") != base


def test_policies_do_not_count(write: Callable[..., Path]) -> None:
    base = fingerprint(write)
    policy = (
        "    retry: {attempts: 5, backoff: 1m}\n    timeout: 2h\n    on_failure: continue\n"
        "    tags: {owner: me}"
    )
    assert fingerprint(write, extra=policy) == base


def test_fingerprint_scheme_is_stable_across_releases(write: Callable[..., Path]) -> None:
    # A change of this value would make every stored job look changed after an upgrade,
    # and `apply` would rerun (and pay for) all of them. Change FINGERPRINT_VERSION and
    # plan a migration instead.
    assert fingerprint(write) == "3d8f45339394c4302d0ee65ddb4042c5"


def test_idempotency_keys_are_deterministic_and_distinct() -> None:
    key = idempotency_key("s", "a[x=1]", "fp", 1)
    assert key == idempotency_key("s", "a[x=1]", "fp", 1)
    others = {
        idempotency_key("s", "a[x=1]", "fp", 2),
        idempotency_key("s", "a[x=2]", "fp", 1),
        idempotency_key("t", "a[x=1]", "fp", 1),
        idempotency_key("s", "a[x=1]", "fq", 1),
    }
    assert key not in others and len(others) == 4
    assert len(key) <= 64  # Braket's clientToken limit


AZURE = """\
version: 1
stack: fp
providers:
  az:
    type: azure
    resource_id: /subscriptions/s/resourceGroups/g/providers/Microsoft.Quantum/Workspaces/w
    location: eastus
programs:
  p:
    format: {format}
    {entry}
    source: |
{program}
jobs:
  j:
    target: az/ionq.simulator
    program: p
    shots: 100
    inputs: {inputs}
    params: {params}
"""
QSHARP = """\
namespace Sweep {
    operation Run(theta : Double) : Result { use q = Qubit(); Ry(theta, q); MResetZ(q) }
    operation Other(theta : Double) : Result { use q = Qubit(); Rx(theta, q); MResetZ(q) }
}
"""


def azure_fingerprint(
    write: Callable[..., Path],
    *,
    program: str = PROGRAM,
    params: str = "{}",
    entry: str = "",
    inputs: str = "{theta: 0.5, n: 2}",
) -> str:
    body = "\n".join("      " + line for line in program.splitlines())
    text = AZURE.format(
        format="qsharp" if entry else "openqasm3",
        entry=f"entry: {entry}" if entry else "",
        program=body,
        inputs=inputs,
        params=params,
    )
    job = qplan.load(write(text)).jobs["j"]
    return JobFingerprinter(job)(job.name)


def test_target_params_count(write: Callable[..., Path]) -> None:
    base = azure_fingerprint(write)
    noisy = azure_fingerprint(write, params="{noise: {model: aria-1, seed: 7}}")
    assert noisy != base
    assert azure_fingerprint(write, params="{noise: {seed: 7, model: aria-1}}") == noisy
    assert azure_fingerprint(write, params="{noise: {model: aria-1, seed: 8}}") != noisy
    assert azure_fingerprint(write, params="{noise: {model: forte-1, seed: 7}}") != noisy


def test_the_entry_and_the_q_sharp_source_count(write: Callable[..., Path]) -> None:
    run = azure_fingerprint(write, program=QSHARP, entry="Sweep.Run", inputs="{theta: 0.5}")
    other = azure_fingerprint(write, program=QSHARP, entry="Sweep.Other", inputs="{theta: 0.5}")
    assert run != other
    commented = "// a comment\n" + QSHARP.replace("    ", "  ")
    assert azure_fingerprint(
        write, program=commented, entry="Sweep.Run", inputs="{theta: 0.5}"
    ) == (run)
    edited = QSHARP.replace("Ry(theta, q)", "Rz(theta, q)")
    assert azure_fingerprint(write, program=edited, entry="Sweep.Run", inputs="{theta: 0.5}") != (
        run
    )
    assert azure_fingerprint(write, program=QSHARP, entry="Sweep.Run", inputs="{theta: 1}") == (
        azure_fingerprint(write, program=QSHARP, entry="Sweep.Run", inputs="{theta: 1.0}")
    )


HYBRID = """\
version: 1
stack: fp
programs:
  vqe: {{format: braket.hybrid, path: vqe, entry_point: "{entry}"}}
jobs:
  j:
    target: local/braket_sv
    program: vqe
    hyperparameters: {hyperparameters}
    sweep: {{grid: {{bond: [0.5]}}}}
{extra}
"""


def hybrid_fingerprint(
    write: Callable[..., Path],
    *,
    entry: str = "vqe.algorithm:main",
    hyperparameters: str = "{iterations: 20, stepsize: 0.1}",
    extra: str = "",
    source: str = "def main():\n    pass\n",
    data: str = "{}",
) -> str:
    text = HYBRID.format(entry=entry, hyperparameters=hyperparameters, extra=extra)
    files = {
        "vqe/algorithm.py": source,
        "vqe/other.py": "def main():\n    pass\n",
        "data/h2.json": data,
    }
    job = qplan.load(write(text, **files)).jobs["j"]
    return JobFingerprinter(job)("j[bond=0.5]")


def test_what_determines_a_hybrid_job(write: Callable[..., Path]) -> None:
    base = hybrid_fingerprint(write)
    assert hybrid_fingerprint(write, hyperparameters="{stepsize: 0.1, iterations: 20}") == base
    assert hybrid_fingerprint(write, hyperparameters="{iterations: 21, stepsize: 0.1}") != base
    assert hybrid_fingerprint(write, entry="vqe.other:main") != base
    assert hybrid_fingerprint(write, source="def main():\n    return 1\n") != base
    changed = [
        "    instance: {type: ml.c5.xlarge}",
        "    instance: {volume: 31}",
        "    checkpoint: s3://bucket/ckpt",
        "    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1",
        '    input_data: {h2: "s3://bucket/h2.json"}',
    ]
    seen = {base} | {hybrid_fingerprint(write, extra=extra) for extra in changed}
    assert len(seen) == len(changed) + 1


def test_a_hybrid_input_file_counts_by_content(write: Callable[..., Path]) -> None:
    extra = "    input_data: {h2: data/h2.json}"
    base = hybrid_fingerprint(write, extra=extra)
    assert hybrid_fingerprint(write, extra=extra) == base
    assert hybrid_fingerprint(write, extra=extra, data='{"r": 1}') != base


def test_a_hybrid_job_policies_do_not_count(write: Callable[..., Path]) -> None:
    base = hybrid_fingerprint(write)
    policy = (
        "    max_runtime: 2h\n    retry: {attempts: 5, backoff: 1m}\n    timeout: 3h\n"
        "    tags: {owner: me}"
    )
    assert hybrid_fingerprint(write, extra=policy) == base
    assert hybrid_fingerprint(write, extra="    instance: {type: ml.m5.large}") == base  # default
