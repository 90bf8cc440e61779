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

from qplan.addresses import parse_address, session_address
from qplan.errors import UsageError
from qplan.manifest import Stack
from qplan.planner.actions import SUBMITS, Action
from qplan.planner.plan import Plan, ResourcePlan

__all__ = ["select"]


def _dependencies(stack: Stack, names: set[str]) -> set[str]:
    """Every job that a job of ``names`` comes ``after``, transitively (a job of
    ``names`` itself only when another one needs it)."""
    todo = list(names)
    seen: set[str] = set()
    while todo:
        job = stack.jobs.get(todo.pop())
        for dep in job.after if job is not None else ():
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def _unknown(wanted: Sequence[str], stack: Stack, plan: Plan) -> list[str]:
    """The targets that name nothing in the plan: a job is named by its name, a session
    by ``session.NAME``, an instance (or a row gone from the manifest) by its address, a
    job removed from the manifest by its name."""
    gone_jobs = {
        r.name
        for r in plan.resources
        if r.kind == "gone" and not any(a.startswith("session.") for a in r.addresses)
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
    named_jobs = {t for t in wanted if t in stack.jobs}
    # a session named: all its jobs
    named_jobs |= {
        name
        for name, job in stack.jobs.items()
        if job.session and session_address(job.session) in wanted
    }
    pointed = {parse_address(t).name for t in wanted if "[" in t}
    # a job that another comes after is needed whole, even when only points were named
    whole = named_jobs | _dependencies(stack, named_jobs | pointed)
    needed = whole | pointed
    named = set(wanted)
    sessions = {t.removeprefix("session.") for t in named if t.startswith("session.")}
    sessions.update(
        session for j in needed if j in stack.jobs and (session := stack.jobs[j].session)
    )
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
