"""The manifest's data model: pydantic models of a manifest after templating.

These models are the contract published as ``schemas/manifest.schema.json``. They are
frozen and reject unknown keys. They check each value on its own; everything that needs
the whole manifest (references, parameters, formats, cycles) is checked in ``resolve``.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from qplan.manifest.hybrid import DEFAULT_INSTANCE, DEFAULT_VOLUME_GB, LIMITS
from qplan.targets import FORMATS, FormatKind

__all__ = [
    "UNION_TAGS",
    "AxisSpec",
    "AzureProvider",
    "BraketProvider",
    "FaultSpec",
    "InstanceSpec",
    "JobSpec",
    "LocalProvider",
    "Manifest",
    "PasqalProvider",
    "PriceSpec",
    "ProgramSpec",
    "ProviderConfig",
    "RetrySpec",
    "SessionSpec",
    "Spending",
    "SweepSpec",
    "parse_duration",
]

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
STACK_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
"""A stack's name: 1 to 100 letters, digits, ``_``, ``.`` or ``-``, from a letter or digit."""
ENTRY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
ENTRY_POINT_PATTERN = (
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(:[A-Za-z_][A-Za-z0-9_]*)?$"
)
_CHANNEL_RE = re.compile(rf"[A-Za-z0-9._-]{{1,{LIMITS.channel_name}}}")
S3_PATTERN = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?$"
_IMAGE_PATTERN = r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/\S+$"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _check_name(value: str) -> str:
    if not _NAME_RE.fullmatch(value):
        raise PydanticCustomError(
            "qplan_name",
            "must start with a letter or _ and contain only letters, digits, _ and - "
            "(at most 64 characters)",
        )
    return value


def _check_ident(value: str) -> str:
    if not _IDENT_RE.fullmatch(value):
        raise PydanticCustomError(
            "qplan_ident", "must be an identifier: letters, digits and _, not starting with a digit"
        )
    return value


def _check_stack(value: str) -> str:
    if not STACK_RE.fullmatch(value):
        raise PydanticCustomError(
            "qplan_stack",
            "must be 1-100 letters, digits, _, . or -, starting with a letter or digit",
        )
    return value


def _check_target(value: str) -> str:
    provider, slash, device = value.partition("/")
    if not slash or not provider or not device:
        raise PydanticCustomError(
            "qplan_target", "must be PROVIDER/DEVICE, e.g. local/braket_sv or aws/sv1"
        )
    return value


def _check_format(value: str) -> str:
    if value not in FORMATS:
        raise PydanticCustomError(
            "qplan_choice",
            "unknown program format {value}",
            {"value": repr(value), "choices": sorted(FORMATS)},
        )
    return value


def parse_duration(value: Any) -> Any:
    """``"90s"``, ``"10m"``, ``"1h30m"``, ``"500ms"``, ``"2d"`` or a number -> seconds."""
    if isinstance(value, bool):
        return value  # left for the float validator to reject
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise PydanticCustomError("qplan_duration", "must be a non-negative duration")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        pos, total = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos == len(text) and text:
            return total
    raise PydanticCustomError(
        "qplan_duration", "must be a duration like 30s, 10m, 1h30m or 2h (or seconds as a number)"
    )


def _stringify(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return value


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Name = Annotated[str, AfterValidator(_check_name)]
_RESERVATION = r"^arn:aws:braket:[a-z0-9-]*:\d*:reservation/.+$"
Ident = Annotated[str, AfterValidator(_check_ident)]
Target = Annotated[
    str,
    AfterValidator(_check_target),
    Field(description="PROVIDER/DEVICE, e.g. local/braket_sv, aws/sv1, az/ionq.simulator"),
]
DURATION_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": DURATION_PATTERN},
            ],
            "description": "A duration: 30s, 10m, 1h30m, 2h, 500ms, 1d, or seconds",
        }
    ),
]
TagValue = Annotated[str, BeforeValidator(_stringify)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


# --- providers -----------------------------------------------------------------------------


class FaultSpec(_Model):
    """A failure the local provider injects, to rehearse failure policies without a cloud."""

    match: str = Field(
        "*", min_length=1, description="Address, or a pattern where * matches anything: scan[*]"
    )
    mode: Literal["fail", "hang"] = Field(
        description="fail: the run fails at once; hang: it runs until cancelled (timeouts)"
    )
    attempts: list[Annotated[int, Field(gt=0)]] | None = Field(
        None, description="Only these attempts (1 = the first); default: every attempt"
    )
    rate: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="Fraction of the matching runs affected, chosen by a hash of the run's "
        "idempotency key: the same runs every time",
    )


class LocalProvider(_Model):
    """The embedded simulator provider: no account, no network."""

    type: Literal["local"]
    workers: int | None = Field(
        None, gt=0, le=512, description="Size of the process pool; default: number of CPUs."
    )
    faults: list[FaultSpec] = Field(
        default_factory=list, description="Injected failures, for rehearsing failure policies"
    )


class BraketProvider(_Model):
    """Amazon Braket. Credentials come from the standard AWS chain, never the manifest."""

    type: Literal["braket"]
    region: str = Field(
        pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", description="AWS region, e.g. us-east-1"
    )
    s3_bucket: str = Field(min_length=3, max_length=63, description="Bucket for task results")
    s3_prefix: str = Field("qplan", min_length=1, description="Key prefix for task results")
    reservations: dict[Name, Annotated[str, StringConstraints(pattern=_RESERVATION)]] = Field(
        default_factory=dict,
        description="Braket Direct reservations by session name: that session's members run "
        "in the reservation's time window",
    )
    role_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$",
        description="IAM role hybrid jobs run as; default: the environment's "
        "BRAKET_JOBS_ROLE_ARN (qplan never looks roles up)",
    )


class AzureProvider(_Model):
    """Azure Quantum workspace. Credentials come from the Azure identity chain."""

    type: Literal["azure"]
    resource_id: str = Field(
        pattern=r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Quantum/"
        r"[Ww]orkspaces/[^/]+$",
        description="Workspace resource id: /subscriptions/.../Workspaces/NAME",
    )
    location: str = Field(min_length=2, description="Azure region of the workspace, e.g. eastus")
    endpoint: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+(/\S*)?$",
        description="Data-plane URL of the workspace, for a private endpoint; default: "
        "https://LOCATION.quantum.azure.com/ (a connection string's QuantumEndpoint wins)",
    )


class PasqalProvider(_Model):
    """Pasqal Cloud project. The token comes from the environment, never the manifest."""

    type: Literal["pasqal"]
    project_id: str = Field(min_length=1, description="Pasqal Cloud project id")


def _provider_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        tag = value.get("type")
        return tag if isinstance(tag, str) else None
    return getattr(value, "type", None)


ProviderConfig = Annotated[
    Annotated[LocalProvider, Tag("local")]
    | Annotated[BraketProvider, Tag("braket")]
    | Annotated[AzureProvider, Tag("azure")]
    | Annotated[PasqalProvider, Tag("pasqal")],
    Discriminator(
        _provider_tag,
        custom_error_type="qplan_provider_type",
        custom_error_message="type must be one of local, braket, azure, pasqal",
    ),
]


# --- programs and sessions -----------------------------------------------------------------


class ProgramSpec(_Model):
    """A quantum program: a file (relative to the manifest) or inline source; a hybrid job's
    program (``braket.hybrid``) is a folder or one ``.py`` file, never inline."""

    format: Annotated[str, AfterValidator(_check_format)] = Field(
        description="openqasm3, pulser, braket.hybrid, or a provider-native format such as "
        "ionq.circuit.v1"
    )
    path: str | None = Field(
        None,
        min_length=1,
        description="Program file, relative to the manifest (braket.hybrid: a folder or one "
        ".py file)",
    )
    source: str | None = Field(None, description="Inline program text")
    entry: str | None = Field(
        None,
        pattern=ENTRY_PATTERN,
        validate_default=True,
        description="qsharp: the operation to run, namespace included (Sweep.Run, or Run); "
        "its arguments are the program's parameters",
    )
    entry_point: str | None = Field(
        None,
        pattern=ENTRY_POINT_PATTERN,
        validate_default=True,
        description="braket.hybrid: module:function, or a module run as __main__; a folder's "
        "modules start with the folder's name (vqe.algorithm:main for vqe/algorithm.py)",
    )

    @field_validator("source")
    @classmethod
    def _no_inline_hybrid(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and _kind(info) is FormatKind.HYBRID:
            raise PydanticCustomError(
                "qplan_source",
                "format braket.hybrid takes a path (a folder or one .py file), not inline source",
            )
        return value

    @field_validator("entry")
    @classmethod
    def _entry_for_qsharp(cls, value: str | None, info: ValidationInfo) -> str | None:
        declared = FORMATS.get(info.data.get("format", ""))
        if declared is None:
            return value  # the format itself is wrong, and reported
        if declared.kind is FormatKind.QSHARP and value is None:
            raise PydanticCustomError(
                "qplan_entry",
                "is required for format qsharp: the operation to run, such as Sweep.Run",
            )
        if declared.kind is not FormatKind.QSHARP and value is not None:
            raise PydanticCustomError(
                "qplan_entry",
                "applies to format qsharp only (a program of format {format} runs as a whole)",
                {"format": declared.name},
            )
        return value

    @field_validator("entry_point")
    @classmethod
    def _entry_point_for_hybrid(cls, value: str | None, info: ValidationInfo) -> str | None:
        declared = FORMATS.get(info.data.get("format", ""))
        if declared is None:
            return value
        if declared.kind is FormatKind.HYBRID and value is None:
            raise PydanticCustomError(
                "qplan_entry_point",
                "is required for format braket.hybrid: module:function, or a module run as "
                "a script (vqe.algorithm:main)",
            )
        if declared.kind is not FormatKind.HYBRID and value is not None:
            raise PydanticCustomError(
                "qplan_entry_point",
                "applies to format braket.hybrid only (a program of format {format} has no "
                "entry point)",
                {"format": declared.name},
            )
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> ProgramSpec:
        if (
            self.source is None
            and self.path is None
            and FORMATS[self.format].kind is FormatKind.HYBRID
        ):
            raise PydanticCustomError("qplan_program_origin", "give path: a folder or one .py file")
        if (self.path is None) == (self.source is None):
            raise PydanticCustomError("qplan_program_origin", "give exactly one of path or source")
        return self


def _kind(info: ValidationInfo) -> FormatKind | None:
    declared = FORMATS.get(info.data.get("format", ""))
    return None if declared is None else declared.kind


class SessionSpec(_Model):
    """Jobs run together on one target under a failure policy (Azure session, Pasqal open batch)."""

    target: Target
    on_job_failure: Literal["abort", "continue"] = Field(
        "abort", description="abort: a failed job cancels the rest; continue: the others go on"
    )
    idle_timeout: Duration = Field(600.0, description="Close the session after this long idle")


# --- sweeps --------------------------------------------------------------------------------


class AxisSpec(_Model):
    """Values of one sweep parameter: exactly one generator."""

    values: list[Any] | None = Field(None, min_length=1, description="Explicit values")
    linspace: tuple[float, float, Annotated[int, Field(gt=0)]] | None = Field(
        None, description="[start, stop, count], both ends included"
    )
    logspace: tuple[float, float, Annotated[int, Field(gt=0)]] | None = Field(
        None, description="[start, stop, count]: 10**x for x in linspace(start, stop, count)"
    )
    range: list[float] | None = Field(
        None,
        min_length=1,
        max_length=3,
        description="[stop], [start, stop] or [start, stop, step]; stop excluded",
    )

    @model_validator(mode="after")
    def _one_generator(self) -> AxisSpec:
        given = [
            k for k in ("values", "linspace", "logspace", "range") if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise PydanticCustomError(
                "qplan_axis", "give exactly one of values, linspace, logspace, range"
            )
        if self.range is not None and len(self.range) == 3 and self.range[2] == 0:
            raise PydanticCustomError("qplan_axis", "range step must not be 0")
        return self


def _axis_tag(value: Any) -> str:
    return "list" if isinstance(value, list) else "generator"


Axis = Annotated[
    Annotated[list[Any], Tag("list"), Field(min_length=1)] | Annotated[AxisSpec, Tag("generator")],
    Discriminator(_axis_tag),
]


class SweepSpec(_Model):
    """Parameter sets of a job; each point is one job instance with its own address."""

    grid: dict[Ident, Axis] | None = Field(None, min_length=1, description="Cartesian product")
    zip: dict[Ident, Axis] | None = Field(None, min_length=1, description="Paired, equal lengths")
    points: list[dict[Ident, Any]] | None = Field(None, min_length=1, description="Explicit points")
    points_file: str | None = Field(
        None, min_length=1, description="CSV (header row = parameter names) or JSON list of points"
    )
    batch: Literal["auto", "native", "per_point"] = Field(
        "auto",
        description="native: submit the points as the provider's native batches (one Braket "
        "ProgramSet task per batch) where the target supports them, else one job per point; "
        "per_point: one provider job per point; auto: the provider's usual unit (one job per "
        "point on Braket)",
    )
    batch_size: int | None = Field(
        None, ge=1, description="Points per native batch at most (default: the device's limit)"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SweepSpec:
        given = [
            k for k in ("grid", "zip", "points", "points_file") if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise PydanticCustomError(
                "qplan_sweep", "give exactly one of grid, zip, points, points_file"
            )
        if self.batch_size is not None and self.batch == "per_point":
            raise PydanticCustomError(
                "qplan_sweep", "batch_size applies to native batches, not to batch: per_point"
            )
        return self


# --- jobs ----------------------------------------------------------------------------------


class RetrySpec(_Model):
    """Resubmission of a failed job, with exponential backoff and jitter."""

    attempts: int = Field(3, ge=1, le=100, description="Total attempts, the first included")
    backoff: Duration = Field(10.0, description="Delay before the second attempt; doubles after")
    max_backoff: Duration = Field(600.0, description="Upper bound of the delay")


def _check_hyperparameter_name(value: str) -> str:
    if not 0 < len(value) <= LIMITS.hyperparameter_name or not value.isprintable():
        raise PydanticCustomError(
            "qplan_hyperparameter",
            "must be 1-{limit} printable characters",
            {"limit": LIMITS.hyperparameter_name},
        )
    return value


def _check_channel(value: str) -> str:
    if not _CHANNEL_RE.fullmatch(value):
        raise PydanticCustomError(
            "qplan_channel",
            "must be 1-{limit} letters, digits, ., _ or -",
            {"limit": LIMITS.channel_name},
        )
    return value


def _check_runtime(value: float | None) -> float | None:
    if value is not None and not 1.0 <= value <= LIMITS.max_runtime:
        raise PydanticCustomError(
            "qplan_runtime",
            "must be from 1s to 5d, the longest a hybrid job may run",
        )
    return value


class InstanceSpec(_Model):
    """The classical instance a hybrid job runs on."""

    type: str = Field(
        DEFAULT_INSTANCE,
        pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$",
        description="An ml. instance type, such as ml.m5.large or ml.c5.xlarge",
    )
    count: int = Field(
        1,
        ge=LIMITS.instance_count[0],
        le=LIMITS.instance_count[1],
        description="Number of instances",
    )
    volume: int = Field(
        DEFAULT_VOLUME_GB,
        ge=LIMITS.volume_gb[0],
        le=LIMITS.volume_gb[1],
        description="Storage volume of each instance, in GB",
    )


HyperparameterName = Annotated[str, AfterValidator(_check_hyperparameter_name)]
ChannelName = Annotated[str, AfterValidator(_check_channel)]


class JobSpec(_Model):
    """A named request to run a program on a target; a sweep makes one instance per point.

    A hybrid job (a program of format ``braket.hybrid``) has no shots, inputs or params:
    its ``hyperparameters`` and sweep points are what its program reads, and the keys from
    ``instance`` to ``image`` are its own. Which keys a job's program allows is checked in
    ``resolve``; here each value is checked on its own (``None``: not given)."""

    target: Target | None = Field(None, description="Defaults to the session's target")
    program: Name
    shots: int | None = Field(
        None, gt=0, description="Shots per instance; required, except for braket.hybrid jobs"
    )
    inputs: dict[Ident, Any] = Field(default_factory=dict, description="Fixed parameter values")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Target input parameters, passed to the provider as they are (error "
        "mitigation, noise model...); checked against the parameters qplan knows the target "
        "to take",
    )
    sweep: SweepSpec | None = None
    session: Name | None = None
    after: Annotated[list[Name], BeforeValidator(_as_list)] = Field(
        default_factory=list, description="Jobs that must succeed before this one starts"
    )
    retry: RetrySpec | None = None
    timeout: Duration | None = Field(
        None, description="Cancel and fail an instance after this long"
    )
    on_failure: Literal["fail", "continue"] = Field(
        "fail", description="fail: stop the apply; continue: record the failure and go on"
    )
    tags: dict[str, TagValue] = Field(default_factory=dict, description="Free-form labels")
    hyperparameters: dict[HyperparameterName, Any] | None = Field(
        None,
        description="braket.hybrid: fixed hyperparameters (numbers, text, booleans, lists, "
        "mappings), passed to the job as text; a sweep's names are hyperparameters too",
    )
    instance: InstanceSpec | None = Field(
        None, description=f"braket.hybrid: the classical instance (default {DEFAULT_INSTANCE})"
    )
    max_runtime: Annotated[Duration | None, AfterValidator(_check_runtime)] = Field(
        None, description="braket.hybrid: stop and fail the job after this long (default 5d)"
    )
    input_data: dict[ChannelName, Annotated[str, Field(min_length=1)]] | None = Field(
        None,
        max_length=LIMITS.channels,
        description="braket.hybrid: input channels by name: a file or folder relative to "
        "the manifest, or an s3:// URI",
    )
    checkpoint: str | None = Field(
        None,
        pattern=S3_PATTERN,
        description="braket.hybrid: an s3:// URI for checkpoints (default: one per address, "
        "kept across attempts)",
    )
    image: str | None = Field(
        None,
        pattern=_IMAGE_PATTERN,
        description="braket.hybrid on Braket: the job's container image, an ECR image URI",
    )


# --- prices and budget ---------------------------------------------------------------------

_INSTANCE_TYPE_RE = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+")


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("qplan_number", "must be a number, not true or false")
    return value


def _positive_minutes(value: float) -> float:
    if value <= 0:
        raise PydanticCustomError("qplan_minutes", "must be a positive number of minutes")
    return value


def _not_negative(value: float) -> float:
    if value < 0:
        raise PydanticCustomError("qplan_amount", "must be an amount of USD, 0 or more")
    return value


Money = Annotated[
    float,
    Field(allow_inf_nan=False, json_schema_extra={"minimum": 0}),
    BeforeValidator(_no_bool),
    AfterValidator(_not_negative),
]


def _check_price_key(value: str) -> str:
    if _INSTANCE_TYPE_RE.fullmatch(value):
        return value
    provider, slash, device = value.partition("/")
    if not slash or not provider or not device:
        raise PydanticCustomError(
            "qplan_price_key",
            "must be a target as the jobs name it (PROVIDER/DEVICE, e.g. aws/sv1) or a "
            "hybrid job's instance type (e.g. ml.m5.large)",
        )
    return value


PriceKey = Annotated[str, AfterValidator(_check_price_key)]


class PriceSpec(_Model):
    """What one target (or a hybrid job's instance type) costs, in USD. A job on the target
    costs ``per_task`` for each provider task (a native batch counts once) plus ``per_shot``
    for each shot plus ``per_minute`` for each minute a task runs (``runtime_minutes`` per
    task assumed, at least ``min_seconds``); a hybrid job costs ``per_hour`` for each hour of
    each instance. Fields not given keep the shipped table's value for the target."""

    free: bool = Field(False, description="true: the target costs nothing (no price fields)")
    per_task: Money | None = Field(None, description="USD per provider task or job")
    per_shot: Money | None = Field(None, description="USD per shot")
    per_minute: Money | None = Field(None, description="USD per minute a task runs")
    runtime_minutes: (
        Annotated[
            float,
            Field(allow_inf_nan=False, json_schema_extra={"exclusiveMinimum": 0}),
            BeforeValidator(_no_bool),
            AfterValidator(_positive_minutes),
        ]
        | None
    ) = Field(None, description="Minutes one task is assumed to run, for per_minute prices")
    min_seconds: Money | None = Field(
        None, description="Shortest duration billed per task, in seconds, for per_minute prices"
    )
    per_hour: Money | None = Field(
        None,
        description="USD per hour of one hybrid job instance (key: the instance type, such "
        "as ml.m5.large, or the target of the hybrid jobs)",
    )

    @model_validator(mode="after")
    def _free_has_no_price(self) -> PriceSpec:
        priced = [
            name
            for name in ("per_task", "per_shot", "per_minute", "per_hour")
            if getattr(self, name) is not None
        ]
        if self.free and priced:
            raise PydanticCustomError(
                "qplan_price",
                "free: true takes no price ({fields} given)",
                {"fields": ", ".join(priced)},
            )
        return self


_BUDGET_DESCRIPTION = (
    "The most one apply may cost, in USD, by the plan's estimate: an apply whose estimate "
    "is higher, or that submits to a target without a known price, is refused"
)
_PRICING_DESCRIPTION = (
    "Prices that replace the shipped table's, by target as the jobs name it "
    "(PROVIDER/DEVICE: aws/sv1, pq/FRESNEL) or by hybrid instance type (ml.m5.large); a "
    "--pricing FILE of the same shape wins over them"
)


def _positive_amount(value: float) -> float:
    if value <= 0:
        raise PydanticCustomError("qplan_amount", "must be a positive amount of USD")
    return value


Budget = Annotated[
    float,
    BeforeValidator(_no_bool),
    Field(allow_inf_nan=False, json_schema_extra={"exclusiveMinimum": 0}),
    AfterValidator(_positive_amount),
]


class Spending(_Model):
    """The manifest's ``budget`` and ``pricing``, validated on their own."""

    budget: Budget | None = Field(None, description=_BUDGET_DESCRIPTION)
    pricing: dict[PriceKey, PriceSpec] = Field(
        default_factory=dict, description=_PRICING_DESCRIPTION
    )


# --- the manifest --------------------------------------------------------------------------


class Manifest(_Model):
    """A qplan manifest (version 1): one stack of jobs."""

    model_config = ConfigDict(title="qplan manifest")

    version: Literal[1] = Field(description="Manifest format version")
    stack: Annotated[str, AfterValidator(_check_stack)] = Field(
        description="Name of the stack: the unit of state"
    )
    vars: dict[Ident, Any] = Field(
        default_factory=dict,
        description="Template variables, overridable with --var and --var-file",
    )
    providers: dict[Name, ProviderConfig] = Field(
        default_factory=dict,
        description="Named provider configurations; `local` (type local) exists unless redefined",
    )
    programs: dict[Name, ProgramSpec] = Field(default_factory=dict)
    sessions: dict[Name, SessionSpec] = Field(default_factory=dict)
    jobs: dict[Name, JobSpec] = Field(min_length=1)
    budget: Budget | None = Field(None, description=_BUDGET_DESCRIPTION)
    pricing: dict[PriceKey, PriceSpec] = Field(
        default_factory=dict, description=_PRICING_DESCRIPTION
    )


UNION_TAGS = frozenset({"local", "braket", "azure", "pasqal", "list", "generator"})
"""Discriminator tags pydantic inserts into error locations; not part of the data path."""
