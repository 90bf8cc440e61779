"""The dependency graph of a stack: jobs and sessions, edges from ``after`` and membership.

Nodes are jobs (with their instance count) and sessions, never single instances: ``after``
makes every instance of a job wait for every instance of another, which as instance
edges would be the product of the two sweeps. The executor orders jobs by this graph and
runs the instances of a ready job in any order.
"""

from __future__ import annotations

from typing import Any

from qplan.manifest import Stack
from qplan.planner.plan import session_address

__all__ = ["build_graph"]


def build_graph(stack: Stack) -> Any:
    """A networkx DiGraph; node attributes: kind (job|session), target, and for jobs the
    program and instance count; edge attribute: kind (after|session)."""
    import networkx as nx

    graph = nx.DiGraph()
    for name, session in stack.sessions.items():
        graph.add_node(
            session_address(name),
            kind="session",
            name=name,
            target=session.target,
            policy=session.on_job_failure,
        )
    for job in stack.jobs.values():
        graph.add_node(
            job.name,
            kind="job",
            name=job.name,
            target=str(job.target),
            program=job.program.name,
            instances=len(job),
        )
    for job in stack.jobs.values():
        for dep in job.after:
            graph.add_edge(dep, job.name, kind="after")
        if job.session is not None:
            graph.add_edge(session_address(job.session), job.name, kind="session")
    return graph
