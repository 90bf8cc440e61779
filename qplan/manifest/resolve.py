"""From validated manifest entries to a resolved, checked Stack.

Checks that need the whole manifest: references to providers, programs, sessions and
other jobs; that each target exists and can run the job's program format; that a job's
inputs and sweep bind exactly the parameters its program declares, with values of the
declared kinds; that its ``params`` are input parameters its target takes; that a job and
its session agree on the target; that ``after`` has no cycle; a hybrid job's keys, and
that other jobs have shots and none of those keys (``hybrid_jobs``). All problems are
reported, not only the first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qplan.errors import Diagnostic
from qplan.manifest.diagnose import did_you_mean
from qplan.manifest.hybrid import HybridSpec
from qplan.manifest.hybrid_jobs import bind_hybrid, check_other_job
from qplan.manifest.models import JobSpec, PriceSpec, ProviderConfig, RetrySpec, SessionSpec
from qplan.manifest.params import BadMapping, Parameter
from qplan.manifest.programs import Program
from qplan.manifest.pulser_targets import check_mappings
from qplan.manifest.sweep import Sweep, SweepProblem, build_sweep, sweep_name_path, sweep_names
from qplan.manifest.target_params import check_params
from qplan.manifest.yamlsource import PathPart, YamlDocument, format_path
from qplan.targets import FORMATS, PROVIDER_TYPES, FormatKind, device_info

__all__ = ["Instance", "Job", "Stack", "TargetRef", "resolve"]

Report = Callable[[Sequence[PathPart], str], None]


@dataclass(frozen=True, slots=True)
class TargetRef:
    """A resolved ``provider/device``. ``paid`` is False for free simulators."""

    provider: str
    device: str
    provider_type: str
    paid: bool

    def __str__(self) -> str:
        return f"{self.provider}/{self.device}"


@dataclass(frozen=True, slots=True)
class Instance:
    """One job instance: a job without a sweep, or one point of its sweep."""

    address: str
    job: Job
    point: Mapping[str, Any]

    @property
    def inputs(self) -> dict[str, Any]:
        """All bound parameters: the job's fixed inputs and this point's values."""
        return {**self.job.inputs, **self.point}


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed instance of a job is run again, resolved once from its ``retry:``.
    Without it an instance has one attempt. The delays' defaults are ``RetrySpec``'s,
    which the schema documents: they are written nowhere else."""

    attempts: int
    backoff: float
    max_backoff: float

    @classmethod
    def of(cls, spec: RetrySpec | None) -> RetryPolicy:
        chosen = spec if spec is not None else RetrySpec(attempts=1)
        return cls(chosen.attempts, chosen.backoff, chosen.max_backoff)

    def delay(self, failed: int) -> float:
        """Seconds before the next attempt after ``failed`` failed attempts, jitter aside:
        ``backoff`` doubled for each failed attempt after the first, at most
        ``max_backoff``."""
        return float(min(self.max_backoff, self.backoff * 2 ** min(max(0, failed - 1), 60)))


@dataclass(frozen=True)
class Job:
    """A resolved job. ``inputs``: its fixed parameter values, coerced (a hybrid job's
    fixed hyperparameters); ``hybrid``: a hybrid job's specification (``braket.hybrid``),
    None for every other job."""

    name: str
    spec: JobSpec
    target: TargetRef
    program: Program
    inputs: Mapping[str, Any]
    sweep: Sweep | None
    session: str | None
    after: tuple[str, ...]
    hybrid: HybridSpec | None = None

    def __len__(self) -> int:
        return 1 if self.sweep is None else len(self.sweep)

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy.of(self.spec.retry)

    @property
    def shots(self) -> int:
        """Shots per instance: a hybrid job has none (0); every other job has its own."""
        return self.spec.shots or 0

    @property
    def entry(self) -> str | None:
        """The operation its Q# program runs, or a hybrid job's entry point; None for the
        other formats."""
        return self.program.entry

    @property
    def params(self) -> Mapping[str, Any]:
        """Its target's input parameters (``params:``), checked, passed on as written."""
        return self.spec.params

    def addresses(self) -> Iterator[str]:
        """Addresses of the instances, in expansion order, without building them."""
        if self.sweep is None:
            yield self.name
        else:
            yield from self.sweep.addresses(self.name)

    def instances(self) -> Iterator[Instance]:
        if self.sweep is None:
            yield Instance(self.name, self, {})
            return
        names = self.sweep.names
        for addr, values in zip(self.sweep.addresses(self.name), self.sweep, strict=True):
            yield Instance(addr, self, dict(zip(names, values, strict=True)))


@dataclass(frozen=True)
class Stack:
    """A validated manifest, fully resolved. ``jobs`` are in a topological order of ``after``.
    ``budget``: the most one apply may cost by its estimate, in USD (None: no budget);
    ``pricing``: the manifest's prices, by target or hybrid instance type, over the
    shipped table's."""

    name: str
    path: Path
    vars: Mapping[str, Any]
    providers: Mapping[str, ProviderConfig]
    programs: Mapping[str, Program]
    sessions: Mapping[str, SessionSpec]
    jobs: Mapping[str, Job]
    secret_paths: frozenset[tuple[PathPart, ...]] = field(default_factory=frozenset)
    document: YamlDocument | None = field(default=None, repr=False, compare=False)
    budget: float | None = None
    pricing: Mapping[str, PriceSpec] = field(default_factory=dict)

    def diagnostic(self, path: Sequence[PathPart], message: str) -> Diagnostic:
        """A problem found after loading (a check against a device), located at ``path``
        of the manifest as ``validate`` locates its own."""
        if self.document is None:
            return Diagnostic(str(self.path), 0, 0, format_path(path), message)
        return self.document.diagnostic(path, message)

    def instances(self) -> Iterator[Instance]:
        for job in self.jobs.values():
            yield from job.instances()

    @property
    def instance_count(self) -> int:
        return sum(len(job) for job in self.jobs.values())

    @property
    def sweep_point_count(self) -> int:
        return sum(len(job) for job in self.jobs.values() if job.sweep is not None)

    @property
    def providers_used(self) -> list[str]:
        """Names of the providers that some job targets, sorted."""
        return sorted({job.target.provider for job in self.jobs.values()})


class _Resolver:
    def __init__(
        self,
        providers: Mapping[str, ProviderConfig],
        programs: Mapping[str, Program],
        sessions: Mapping[str, SessionSpec],
        names: Mapping[str, set[str]],
        base_dir: Path,
        max_points: int,
        report: Report,
        report_file: Callable[[Path, int, str, Sequence[PathPart]], None],
        describe: Callable[[Sequence[PathPart], Any], str],
    ) -> None:
        self.providers = providers
        self.programs = programs
        self.sessions = sessions
        self.names = names
        self.base_dir = base_dir
        self.max_points = max_points
        self.report = report
        self.report_file = report_file
        self.describe = describe

    def target(self, text: str, path: Sequence[PathPart]) -> TargetRef | None:
        provider, _, device = text.partition("/")
        config = self.providers.get(provider)
        if config is None:
            if provider not in self.names["providers"]:
                hint = did_you_mean(provider, self.names["providers"])
                known = ", ".join(sorted(self.names["providers"]))
                self.report(path, f"unknown provider {provider!r}{hint}; defined: {known}")
            return None
        info = device_info(config.type, device)
        if info is None:
            ptype = PROVIDER_TYPES[config.type]
            hint = did_you_mean(device, ptype.devices)
            known = ", ".join(ptype.devices) if ptype.devices else ""
            expect = " or ".join(
                x for x in (known and f"one of {known}", ptype.open_ended_hint) if x
            )
            self.report(
                path,
                f"provider {provider} ({config.type}) has no device {device!r}{hint}; "
                f"expected {expect}",
            )
            return None
        return TargetRef(provider, info.name, config.type, info.paid)

    def job(self, name: str, spec: JobSpec) -> Job | None:
        base: list[PathPart] = ["jobs", name]
        ok = True
        session = None
        if spec.session is not None:
            session = self.sessions.get(spec.session)
            if session is None and spec.session not in self.names["sessions"]:
                hint = did_you_mean(spec.session, self.names["sessions"])
                self.report([*base, "session"], f"unknown session {spec.session!r}{hint}")
                ok = False
        target_text = spec.target
        if target_text is None:
            if session is None:
                if spec.session is None:
                    self.report(
                        [*base, "target"], "is required (or name a session, whose target it takes)"
                    )
                return None
            target_text = session.target
        elif session is not None and session.target != target_text:
            self.report(
                [*base, "target"],
                f"{target_text} differs from session {spec.session}'s target ({session.target})",
            )
            ok = False
        retried = spec.retry is not None and spec.retry.attempts > 1
        if session is not None and session.on_job_failure == "abort" and retried:
            self.report(
                [*base, "retry", "attempts"],
                f"a job in session {spec.session}, whose on_job_failure is abort, is not "
                "retried: the session ends at its first failure (write on_job_failure: "
                "continue to retry its members)",
            )
            ok = False
        target = self.target(target_text, [*base, "target" if spec.target else "session"])
        ok = ok and target is not None
        for i, dep in enumerate(spec.after):
            if dep == name:
                self.report([*base, "after", i], "a job cannot run after itself")
                ok = False
            elif dep not in self.names["jobs"]:
                hint = did_you_mean(dep, self.names["jobs"])
                self.report([*base, "after", i], f"unknown job {dep!r}{hint}")
                ok = False
        program = self.programs.get(spec.program)
        if program is None:
            if spec.program not in self.names["programs"]:
                hint = did_you_mean(spec.program, self.names["programs"])
                self.report([*base, "program"], f"unknown program {spec.program!r}{hint}")
            return None
        if target is not None:
            info = device_info(target.provider_type, target.device)
            assert info is not None
            if program.format not in info.formats:
                self.report(
                    [*base, "program"],
                    f"program {program.name} is {program.format}, which {target} cannot run "
                    f"(it runs {', '.join(info.formats)})",
                )
                ok = False
        hybrid: HybridSpec | None = None
        if FORMATS[program.format].kind is FormatKind.HYBRID:
            inputs, sweep, hybrid, bound_ok = bind_hybrid(
                name,
                spec,
                program,
                base,
                base_dir=self.base_dir,
                max_points=self.max_points,
                report=self.report,
                report_file=self.report_file,
                describe=self.describe,
            )
        else:
            ok = check_other_job(spec, program, base, self.report) and ok
            if target is not None and spec.params:
                where = (target.provider_type, target.device, str(target), [*base, "params"])
                ok = check_params(spec.params, *where, self.report, self.describe) and ok
            inputs, sweep, bound_ok = self.bind(name, spec, program, base)
            if bound_ok:
                bound_ok = check_mappings(
                    name, spec, program.parameters, inputs, sweep, base, self.report
                )
        if not ok or not bound_ok or target is None:
            return None
        return Job(
            name,
            spec,
            target,
            program,
            inputs,
            sweep,
            spec.session,
            tuple(dict.fromkeys(spec.after)),
            hybrid,
        )

    def bind(
        self, name: str, spec: JobSpec, program: Program, base: list[PathPart]
    ) -> tuple[dict[str, Any], Sweep | None, bool]:
        params = program.parameters
        declares = FORMATS[program.format].declares_parameters
        ok = True

        def unknown(param: str, path: Sequence[PathPart]) -> None:
            if not declares:
                self.report(
                    path, f"program {program.name} ({program.format}) declares no parameters"
                )
            else:
                hint = did_you_mean(param, params)
                declared = ", ".join(params) or "none"
                self.report(
                    path,
                    f"program {program.name} declares no parameter {param!r}{hint}; "
                    f"it declares: {declared}",
                )

        inputs: dict[str, Any] = {}
        for param, value in spec.inputs.items():
            path = [*base, "inputs", param]
            declared = params.get(param)
            if declared is None:
                unknown(param, path)
                ok = False
                continue
            try:
                inputs[param] = declared.coerce(value)
            except BadMapping as exc:
                self.report(path, str(exc))
                ok = False
            except ValueError as exc:
                self.report(path, f"{exc}, got {self.describe(path, value)}")
                ok = False
        sweep = None
        swept: tuple[str, ...] = ()
        if spec.sweep is not None:
            sweep_path = [*base, "sweep"]
            checked: dict[str, Parameter] = {}
            for param in sweep_names(spec):
                where = sweep_name_path(spec, sweep_path, param)
                if param in spec.inputs:
                    self.report(where, f"{param} is both in inputs and in the sweep")
                    ok = False
                elif param not in params:
                    unknown(param, where)
                    ok = False
                else:
                    checked[param] = params[param]
            try:
                sweep = build_sweep(
                    spec.sweep,
                    sweep_path,
                    checked if ok else None,
                    self.base_dir,
                    self.max_points,
                    self.report,
                    lambda v: self.describe(sweep_path, v),
                )
            except SweepProblem as exc:
                self.report_file(exc.file, exc.line, exc.message, [*sweep_path, "points_file"])
                return inputs, None, False
            if sweep is None:
                return inputs, None, False
            swept = sweep.names
            for param in swept:
                if param not in params and ok:
                    unknown(param, [*sweep_path, "points_file"])
                    ok = False
        unbound = [p for p in params if p not in inputs and p not in swept and p not in spec.inputs]
        for param in unbound:
            self.report(
                base,
                f"program {program.name} declares {param!r} ({params[param].describe()}), "
                "which this job does not bind: set it in inputs or sweep",
            )
            ok = False
        return inputs, sweep, ok


def resolve(
    *,
    stack: str,
    path: Path,
    vars: Mapping[str, Any],
    providers: Mapping[str, ProviderConfig],
    programs: Mapping[str, Program],
    sessions: Mapping[str, SessionSpec],
    jobs: Mapping[str, JobSpec],
    names: Mapping[str, set[str]],
    max_points: int,
    report: Report,
    report_file: Callable[[Path, int, str, Sequence[PathPart]], None],
    describe: Callable[[Sequence[PathPart], Any], str],
) -> Stack | None:
    """Resolve validated entries. ``names`` holds every name defined per section, valid or
    not, so that a reference to an entry with its own errors is not reported twice."""
    r = _Resolver(
        providers, programs, sessions, names, path.parent, max_points, report, report_file, describe
    )
    ok = True
    for name, session in sessions.items():
        ok = r.target(session.target, ["sessions", name, "target"]) is not None and ok
    for provider_name, config in providers.items():
        for session_name in getattr(config, "reservations", {}):
            where: list[PathPart] = ["providers", provider_name, "reservations", session_name]
            booked = sessions.get(session_name)
            if booked is None:
                if session_name not in names["sessions"]:
                    hint = did_you_mean(session_name, names["sessions"])
                    report(where, f"unknown session {session_name!r}{hint}")
                    ok = False
            elif booked.target.partition("/")[0] != provider_name:
                report(
                    where,
                    f"session {session_name} runs on {booked.target}, not on provider "
                    f"{provider_name}",
                )
                ok = False
    resolved: dict[str, Job] = {}
    for name, spec in jobs.items():
        job = r.job(name, spec)
        if job is None:
            ok = False
        else:
            resolved[name] = job
    order = _order(jobs, report)
    if order is None or not ok or len(resolved) != len(names["jobs"]):
        return None
    return Stack(
        name=stack,
        path=path,
        vars=vars,
        providers=providers,
        programs=programs,
        sessions=sessions,
        jobs={name: resolved[name] for name in order},
    )


def _order(jobs: Mapping[str, JobSpec], report: Report) -> list[str] | None:
    """A deterministic topological order of jobs by ``after``; cycles are reported."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(jobs)
    for name, spec in jobs.items():
        for dep in spec.after:
            if dep in jobs and dep != name:
                graph.add_edge(dep, name)
    cyclic = False
    for component in nx.strongly_connected_components(graph):
        if len(component) < 2:
            continue
        cyclic = True
        start = min(component)
        cycle = nx.find_cycle(graph.subgraph(component), source=start)
        names = [edge[0] for edge in cycle] + [cycle[0][0]]
        where = cycle[-1][1]
        index = list(jobs[where].after).index(cycle[-1][0])
        report(["jobs", where, "after", index], f"dependency cycle: {' -> '.join(names)}")
    if cyclic:
        return None
    return list(nx.lexicographical_topological_sort(graph))
