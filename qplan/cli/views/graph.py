"""Rendering the dependency graph as Graphviz DOT or Mermaid."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from qplan.manifest import Stack

MAX_EXPANDED = 5000


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mermaid_escape(text: str) -> str:
    for raw, entity in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(raw, entity)
    return text


def _mermaid_label(*lines: str) -> str:
    return '"' + "<br/>".join(_mermaid_escape(line) for line in lines) + '"'


def _label(data: dict[str, Any]) -> list[str]:
    if data["kind"] == "session":
        return [f"session {data['name']}", data["target"], f"on_job_failure: {data['policy']}"]
    count = data["instances"]
    return [data["name"], data["target"], f"{count} instance{'s' if count != 1 else ''}"]


def render_dot(stack: Stack, graph: Any, *, expand: bool) -> Iterable[str]:
    yield f"digraph {_dot_quote(stack.name)} {{"
    yield "  rankdir=LR;"
    if expand:
        yield "  compound=true;"
    yield '  node [shape=box, style=rounded, fontname="Helvetica"];'
    anchors: dict[str, str] = {}
    for node, data in graph.nodes(data=True):
        label = "\\n".join(_label(data)).replace('"', '\\"')
        if data["kind"] == "session":
            yield f'  {_dot_quote(node)} [label="{label}", shape=ellipse, style=dashed];'
            anchors[node] = node
        elif expand:
            job = stack.jobs[node]
            yield f"  subgraph {_dot_quote('cluster_' + node)} {{"
            yield f'    label="{label}";'
            for address in job.addresses():
                yield f"    {_dot_quote(address)};"
                anchors.setdefault(node, address)
            yield "  }"
        else:
            yield f'  {_dot_quote(node)} [label="{label}"];'
            anchors[node] = node
    for src, dst, data in graph.edges(data=True):
        attrs = ["style=dashed"] if data["kind"] == "session" else []
        if expand:
            if graph.nodes[src]["kind"] == "job":
                attrs.append(f"ltail={_dot_quote('cluster_' + src)}")
            attrs.append(f"lhead={_dot_quote('cluster_' + dst)}")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        yield f"  {_dot_quote(anchors[src])} -> {_dot_quote(anchors[dst])}{suffix};"
    yield "}"


def render_mermaid(stack: Stack, graph: Any, *, expand: bool) -> Iterable[str]:
    yield "flowchart LR"
    ids = {node: f"n{i}" for i, node in enumerate(graph.nodes)}
    for node, data in graph.nodes(data=True):
        label = _mermaid_label(*_label(data))
        if data["kind"] == "session":
            yield f"  {ids[node]}([{label}])"
        elif expand:
            yield f"  subgraph {ids[node]}[{label}]"
            for i, address in enumerate(stack.jobs[node].addresses()):
                yield f"    {ids[node]}_{i}[{_mermaid_label(address)}]"
            yield "  end"
        else:
            yield f"  {ids[node]}[{label}]"
    for src, dst, data in graph.edges(data=True):
        arrow = "-.->" if data["kind"] == "session" else "-->"
        yield f"  {ids[src]} {arrow} {ids[dst]}"
