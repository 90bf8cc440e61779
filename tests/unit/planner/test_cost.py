"""Cost estimates from the shipped price table, the manifest's pricing: and a pricing file,
checked against amounts worked out by hand; the budget's refusals; billed figures."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from qplan.errors import ManifestError, QplanError
from qplan.manifest import Stack, load
from qplan.planner import ACTIONS, Action, make_plan
from qplan.planner.cost import (
    CostEstimate,
    JobCost,
    PricingError,
    estimate,
    load_pricing,
    over_budget,
    shipped_pricing,
    spent,
)
from qplan.planner.plan import Plan
from qplan.state import Snapshot
from tests.conftest import CLOUD_ENV, EXAMPLES

PROGRAM = (
    'programs: {ry: {format: openqasm3, source: "OPENQASM 3.0; input float theta; qubit q; '
    'bit c; ry(theta) q; c = measure q;"}}'
)
EXAMPLE_NAMES = sorted(p.parent.name for p in EXAMPLES.glob("*/qplan.yaml"))


def example(name: str, *overrides: str) -> Stack:
    return load(EXAMPLES / name / "qplan.yaml", overrides=overrides, environ=CLOUD_ENV)


def fresh_plan(stack: Stack) -> Plan:
    """The plan of ``stack`` against an empty state: every instance is created."""
    return make_plan(stack, Snapshot(stack.name, 0, {}))


def costs(stack: Stack, extra: Path | None = None) -> CostEstimate:
    return estimate(stack, fresh_plan(stack), load_pricing(stack, extra))


def by_job(estimated: CostEstimate) -> dict[str, JobCost]:
    return {j.job: j for j in estimated.jobs}


def test_the_table_says_when_and_where_its_prices_come_from() -> None:
    table = shipped_pricing()
    assert table.currency == "USD"
    assert len(table.as_of) == 10 and table.as_of[4] == table.as_of[7] == "-"
    assert "https://aws.amazon.com/braket/pricing/" in table.sources
    assert any("learn.microsoft.com" in s for s in table.sources)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_gets_an_estimate_of_every_job(name: str) -> None:
    stack = example(name)
    estimated = costs(stack)
    assert [j.job for j in estimated.jobs] == list(stack.jobs)
    for job in estimated.jobs:
        assert job.instances == len(stack.jobs[job.job])  # nothing in the state yet
        assert job.basis
    assert estimated.currency == "USD"
    assert estimated.sources[0] == "https://aws.amazon.com/braket/pricing/"


@pytest.mark.parametrize("name", ["quickstart", "qsharp-sweep", "braket-hybrid-vqe"])
def test_local_runs_are_free(name: str) -> None:
    estimated = costs(example(name))
    assert estimated.total == 0.0
    assert estimated.unpriced == ()
    assert {j.basis for j in estimated.jobs} == {"free"}
    assert over_budget(estimated, 0.01) is None


def test_the_braket_sweep_on_sv1_is_one_minute_per_task() -> None:
    """calibrate: one task; rabi: 32 points in one program set (batch: native): one task.
    SV1 is 0.075 USD a minute, each task assumed to run a minute."""
    estimated = costs(example("braket-sweep"))
    jobs = by_job(estimated)
    assert (jobs["calibrate"].tasks, jobs["calibrate"].shots) == (1, 1000)
    assert (jobs["rabi"].instances, jobs["rabi"].tasks, jobs["rabi"].shots) == (32, 1, 6400)
    assert jobs["calibrate"].amount == pytest.approx(0.075)
    assert jobs["rabi"].amount == pytest.approx(0.075)
    assert estimated.total == pytest.approx(0.15)
    assert any("1 minute per task assumed" in a for a in estimated.assumptions)
    assert any("native batches (braket): 100 points" in a for a in estimated.assumptions)


def test_the_braket_sweep_on_a_qpu_is_tasks_times_the_task_price_plus_shots() -> None:
    """IQM Garnet: 0.30 USD a task and 0.00145 a shot. calibrate: 1 task of 1000 shots;
    rabi: one program set of 32 points of 200 shots (6400 shots)."""
    estimated = costs(example("braket-sweep", "device=aws/iqm/garnet"))
    jobs = by_job(estimated)
    assert jobs["calibrate"].amount == pytest.approx(0.30 + 1000 * 0.00145)
    assert jobs["rabi"].amount == pytest.approx(0.30 + 6400 * 0.00145)
    assert jobs["rabi"].basis == "0.30/task + 0.00145/shot"
    assert estimated.total == pytest.approx(11.33)


def test_per_point_tasks_and_batch_size_cut_program_sets(write: Callable[..., Path]) -> None:
    manifest = write(
        f"""\
        version: 1
        stack: s
        providers:
          aws: {{type: braket, region: us-east-1, s3_bucket: bucket}}
        {PROGRAM}
        jobs:
          single:
            target: aws/ionq/forte-1
            program: ry
            shots: 10
            sweep: {{grid: {{theta: {{linspace: [0, 1, 7]}}}}}}
          sets:
            target: aws/arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1
            program: ry
            shots: 10
            sweep: {{grid: {{theta: {{linspace: [0, 1, 7]}}}}, batch: native, batch_size: 3}}
        """
    )
    jobs = by_job(costs(load(manifest)))
    assert (jobs["single"].tasks, jobs["sets"].tasks) == (7, 3)  # ceil(7 / 3)
    assert jobs["single"].amount == pytest.approx(7 * 0.30 + 70 * 0.08)
    assert jobs["sets"].amount == pytest.approx(3 * 0.30 + 70 * 0.08)  # the ARN's short name


def test_a_pasqal_qpu_without_a_published_price_is_unpriced() -> None:
    estimated = costs(example("pasqal-batch", "target=pq/FRESNEL"))
    (job,) = estimated.jobs
    assert (job.instances, job.tasks, job.shots) == (3, 1, 150)  # one Pasqal batch
    assert job.amount is None and job.basis == "no price known"
    assert estimated.unpriced == ("pq/FRESNEL",)
    assert estimated.total == 0.0
    refusal = over_budget(estimated, 1000.0)
    assert refusal is not None
    assert "no price is known for pq/FRESNEL" in refusal
    assert "pricing:" in refusal and "--pricing FILE" in refusal
    assert costs(example("pasqal-batch")).jobs[0].basis == "free"  # EMU_FREE


def test_azure_targets_free_and_the_ionq_minimum(write: Callable[..., Path]) -> None:
    manifest = write(
        """\
        version: 1
        stack: s
        providers:
          az:
            type: azure
            resource_id: /subscriptions/s/resourceGroups/g/providers/Microsoft.Quantum/Workspaces/w
            location: eastus
        programs:
          bell: {format: ionq.circuit.v1, source: '{"qubits": 2, "circuit": []}'}
          qasm2: {format: honeywell.openqasm.v1, source: "OPENQASM 2.0;"}
        jobs:
          sim: {target: az/ionq.simulator, program: bell, shots: 100}
          qpu: {target: az/ionq.qpu.aria-1, program: bell, shots: 100}
          h1: {target: az/quantinuum.qpu.h1-1, program: qasm2, shots: 100}
        """
    )
    estimated = costs(load(manifest))
    jobs = by_job(estimated)
    assert jobs["sim"].amount == 0.0
    assert jobs["qpu"].amount == pytest.approx(97.50)
    assert jobs["h1"].amount is None  # HQCs have no published USD price
    assert estimated.unpriced == ("az/quantinuum.qpu.h1-1",)
    assert any("lower bound" in a and "IonQ" in a for a in estimated.assumptions)


def test_a_hybrid_job_on_braket_costs_its_instance_time(write: Callable[..., Path]) -> None:
    """No instance price is shipped: unpriced; with one in the manifest, 5 jobs of one
    ml.m5.large for their max_runtime of 30 minutes."""
    stack = example("braket-hybrid-vqe", "target=aws/sv1")
    estimated = costs(stack)
    assert estimated.unpriced == ("aws/sv1",)
    assert "hybrid instance ml.m5.large" in (over_budget(estimated, 10.0) or "")
    pricing = write("ml.m5.large: {per_hour: 0.24}\n", name="prices.yaml")
    estimated = costs(stack, pricing)
    (job,) = estimated.jobs
    assert (job.instances, job.shots) == (5, 0)
    assert job.amount == pytest.approx(5 * 0.5 * 0.24)
    assert any("max_runtime" in a for a in estimated.assumptions)


def test_manifest_then_file_overrides_later_wins(write: Callable[..., Path]) -> None:
    manifest = write(
        f"""\
        version: 1
        stack: s
        budget: 2.5
        providers:
          aws: {{type: braket, region: us-east-1, s3_bucket: bucket}}
          pq: {{type: pasqal, project_id: p}}
        {PROGRAM}
        jobs:
          a: {{target: aws/sv1, program: ry, shots: 10, inputs: {{theta: 0.5}}}}
          b: {{target: local/braket_sv, program: ry, shots: 10, inputs: {{theta: 0.5}}}}
        pricing:
          aws/sv1: {{runtime_minutes: 0.1}}
          local/braket_sv: {{per_task: 2}}
          pq/FRESNEL: {{per_shot: 0.5}}
        """
    )
    stack = load(manifest)
    assert stack.budget == 2.5
    assert set(stack.pricing) == {"aws/sv1", "local/braket_sv", "pq/FRESNEL"}
    jobs = by_job(costs(stack))
    assert jobs["a"].amount == pytest.approx(0.075 * 0.1)  # the table's per_minute kept
    assert jobs["b"].amount == pytest.approx(2.0)  # no longer free
    estimated = costs(stack)
    assert estimated.sources[-1] == "manifest"
    assert over_budget(estimated, stack.budget) is None
    pricing = write("aws/sv1: {per_minute: 1.0}\nlocal/braket_sv: {free: true}\n", name="p.yaml")
    estimated = costs(stack, pricing)
    jobs = by_job(estimated)
    assert jobs["a"].amount == pytest.approx(1.0 * 0.1)  # the file's price, the manifest's time
    assert jobs["b"].amount == 0.0
    assert estimated.sources[-2:] == ("manifest", str(pricing))


def test_a_bad_pricing_file_is_a_located_error(write: Callable[..., Path]) -> None:
    stack = example("quickstart")
    bad = write("aws/sv1:\n  per_task: -1\n  per_shoot: 2\nsv1: {free: true}\n", name="prices.yaml")
    with pytest.raises(PricingError) as caught:
        load_pricing(stack, bad)
    error = caught.value
    assert isinstance(error, QplanError) and error.exit_code == 1
    shown = [str(d) for d in error.diagnostics]
    assert f"{bad}:2:13: aws/sv1.per_task: must be an amount of USD, 0 or more" in shown
    assert any(s.startswith(f"{bad}:3:3: aws/sv1.per_shoot: unknown key") for s in shown)
    assert any(s.startswith(f"{bad}:4:1: sv1: invalid name") for s in shown)
    syntax = write("aws/sv1: [\n", name="broken.yaml")
    with pytest.raises(PricingError, match=r"broken.yaml:2:1: invalid YAML"):
        load_pricing(stack, syntax)
    with pytest.raises(PricingError, match="no such file"):
        load_pricing(stack, bad.parent / "absent.yaml")


def test_a_bad_budget_or_pricing_in_the_manifest_is_located(write: Callable[..., Path]) -> None:
    manifest = write(
        f"""\
        version: 1
        stack: s
        budget: 0
        {PROGRAM}
        jobs:
          a: {{target: local/braket_sv, program: ry, shots: 10, inputs: {{theta: 0.5}}}}
        pricing:
          local/braket_sv: {{free: true, per_shot: 1}}
          nowhere: {{per_task: 1}}
        """
    )
    with pytest.raises(ManifestError) as caught:
        load(manifest)
    shown = str(caught.value)
    assert ":3:9: budget: must be a positive amount of USD" in shown
    assert "pricing.local/braket_sv: free: true takes no price (per_shot given)" in shown
    assert "pricing.nowhere: invalid name 'nowhere'" in shown


def test_jobs_with_nothing_to_submit_cost_nothing() -> None:
    stack = example("braket-sweep", "device=aws/iqm/garnet")
    plan = fresh_plan(stack)
    for resource in plan.resources:  # as if every instance had succeeded
        resource.codes = bytearray([ACTIONS.index(Action.NOOP)] * len(resource.addresses))
    estimated = estimate(stack, plan, load_pricing(stack))
    assert [(j.instances, j.tasks, j.amount) for j in estimated.jobs] == [(0, 0, 0.0)] * 2
    assert estimated.assumptions == ()


def _estimate(*amounts: tuple[str, float | None]) -> CostEstimate:
    jobs = tuple(JobCost(n, "aws/x", 1, 1, 1, a, "") for n, a in amounts)
    return CostEstimate(jobs, "USD", "2026-01-01", (), ())


def test_over_budget_names_the_biggest_jobs() -> None:
    estimated = _estimate(("a", 300.0), ("b", 100.0), ("c", 12.5), ("d", 0.0), ("e", 1.0))
    assert over_budget(estimated, 413.5) is None
    assert over_budget(estimated, 1000) is None
    assert over_budget(estimated, 100.0) == (
        "the plan's estimated cost, 413.50 USD, exceeds the budget of 100.00 USD "
        "(jobs: a 300.00, b 100.00, c 12.50 and 1 more)"
    )


def _billed_sum(payloads: Sequence[dict[str, object]]) -> tuple[int, int]:
    spend = spent(example("braket-sweep").jobs["rabi"], payloads, shipped_pricing())
    assert spend is not None
    return spend.tasks, spend.shots


def test_billed_figures_count_each_task_once() -> None:
    """Members of one program set carry their task's figures: a sum counts it once. On
    SV1 a task is billed its execution time, at least 3 seconds."""
    job = example("braket-sweep").jobs["rabi"]
    members = [{"counts": {}, "billed": {"task": "arn:t1", "shots": 400}} for _ in range(2)]
    other = {"counts": {}, "billed": {"task": "arn:t2", "shots": 200, "execution_ms": 12_000}}
    spend = spent(job, [*members, other], shipped_pricing())
    assert spend is not None
    assert (spend.tasks, spend.shots) == (2, 600)
    # t1 reported no execution time: a minute assumed; t2 ran 12 s
    assert spend.amount == pytest.approx(0.075 * (60 + 12) / 60)
    assert spend.basis == (
        "0.075/min x 72 s (1 task without a reported run time: 1 min each assumed)"
    )
    assert spend.estimate.instances == 3
    short = {"counts": {}, "billed": {"task": "arn:t3", "shots": 1, "execution_ms": 40}}
    spend = spent(job, [short], shipped_pricing())
    assert spend is not None and spend.amount == pytest.approx(0.075 * 3 / 60)
    assert spent(job, [{"counts": {"0": 1}}], shipped_pricing()) is None


def test_billed_hybrid_instance_time(write: Callable[..., Path]) -> None:
    stack = example("braket-hybrid-vqe", "target=aws/sv1")
    pricing = load_pricing(stack, write("ml.m5.large: {per_hour: 0.24}\n", name="p.yaml"))
    billed = {"job": "arn:j", "billable_seconds": 900.0, "instance_type": "ml.m5.large"}
    spend = spent(stack.jobs["h2"], [{"counts": {}, "billed": billed}], pricing)
    assert spend is not None
    assert spend.billable_seconds == 900.0
    assert spend.amount == pytest.approx(0.24 / 4)
    assert math.isclose(spend.estimate.amount or 0.0, 0.5 * 0.24)
