"""Targeted plans: only the named jobs or instances, and what they need.

``apply --target`` (repeatable) names a job, one instance's address, a session, or a job
or session removed from the manifest. The targeted plan keeps those and everything they
depend on: every instance of each job named in an ``after:`` (transitively), and the
session their instances run in. Nothing else is submitted, cancelled or forgotten; what
was left out is counted, so the plan says what it did not do.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

from qplan.addresses import parse_address
from qplan.errors import UsageError
from qplan.manifest import Stack
from qplan.planner.actions import SUBMITS, Action
from qplan.planner.graph import build_graph
from qplan.planner.plan import Plan, ResourcePlan

__all__ = ["select"]


def _needs(stack: Stack, starts: set[str]) -> tuple[set[str], set[str]]:
    """What the jobs ``starts`` need, read from the stack's graph (``planner.graph``): the
    jobs they come ``after``, transitively (one of ``starts`` only when another needs it),
    and the sessions of those jobs and of ``starts``: their ancestors."""
    import networkx as nx

    graph = build_graph(stack)
    above: set[str] = set()
    for name in starts & set(stack.jobs):  # a job gone from the manifest needs nothing
        above |= nx.ancestors(graph, name)
    jobs = {n for n in above if graph.nodes[n]["kind"] == "job"}
    sessions = {graph.nodes[n]["name"] for n in above if graph.nodes[n]["kind"] == "session"}
    return jobs, sessions


def _unknown(wanted: Sequence[str], stack: Stack, plan: Plan) -> list[str]:
    """The targets that name nothing in the plan: a job is named by its name, a session
    by ``session.NAME``, an instance (or a row gone from the manifest) by its address, a
    job removed from the manifest by its name."""
    gone_jobs = {
        r.name
        for r in plan.resources
        if r.kind == "gone" and any(not parse_address(a).session for a in r.addresses)
    }
    missing = []
    for target in wanted:
        if target in stack.jobs or target in gone_jobs:
            continue
        owner = parse_address(target).name
        if not any(target in r.addresses for r in plan.resources if r.name == owner):
            missing.append(target)
    return missing


def select(stack: Stack, plan: Plan, wanted: Sequence[str]) -> Plan:
    """The plan of ``wanted`` (job names, addresses, sessions) and their dependencies.
    A target that names nothing in the plan is a UsageError (a typo must not read as
    "nothing to do")."""
    if not wanted:
        return plan
    missing = _unknown(wanted, stack, plan)
    if missing:
        jobs = ", ".join(sorted(stack.jobs)[:10])
        raise UsageError(
            f"--target: no job, instance or session named {', '.join(missing)} in the plan "
            f"(jobs: {jobs}; an instance is named as `qplan plan --verbose` shows it, "
            "e.g. job[x=0.5])"
        )
    parsed = [parse_address(t) for t in wanted]
    named_sessions = {a.name for a in parsed if a.session}
    # a session named: all its jobs
    named_jobs = {t for t in wanted if t in stack.jobs} | {
        name for name, job in stack.jobs.items() if job.session in named_sessions
    }
    pointed = {a.name for a in parsed if a.point}
    # a job that another comes after is needed whole, even when only points were named
    dependencies, sessions = _needs(stack, named_jobs | pointed)
    whole = named_jobs | dependencies
    sessions |= named_sessions
    named = set(wanted)
    kept: list[ResourcePlan] = []
    left: Counter[Action] = Counter()
    submits_in: Counter[str] = Counter()
    for resource in plan.resources:
        if resource.kind == "session":
            continue
        keep_all = resource.name in whole and resource.kind == "job"
        keep_all = keep_all or (resource.kind == "gone" and resource.name in named)
        out = ResourcePlan(resource.name, resource.kind, resource.target)
        for address, action, reason in resource.items():
            if keep_all or address in named:
                out.add(address, action, reason)
            else:
                left[action] += 1
        if out.addresses:
            kept.append(out)
            job = stack.jobs.get(resource.name) if resource.kind == "job" else None
            if job is not None and job.session is not None:
                counts = out.counts
                submits_in[job.session] += sum(counts[a] for a in SUBMITS)
    heads: list[ResourcePlan] = []
    for resource in plan.resources:
        if resource.kind != "session":
            continue
        if resource.name not in sessions:
            for _, action, _ in resource.items():
                left[action] += 1
            continue
        out = ResourcePlan(resource.name, resource.kind, resource.target)
        for address, action, reason in resource.items():
            if action in SUBMITS and not submits_in[resource.name]:
                out.add(address, Action.NOOP, "no member to submit in this targeted run")
                left[action] += 1
            else:
                out.add(address, action, reason)
        heads.append(out)
    return dataclasses.replace(
        plan, resources=heads + kept, targets=tuple(wanted), left_out=dict(left)
    )
