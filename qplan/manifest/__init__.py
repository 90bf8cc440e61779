"""The manifest language: load, template, validate and resolve a qplan manifest."""

from qplan.manifest.loader import load, parse_var
from qplan.manifest.models import Manifest
from qplan.manifest.params import Parameter, format_value
from qplan.manifest.programs import Program
from qplan.manifest.qsharp import entry_expression, entry_parameters
from qplan.manifest.resolve import Instance, Job, RetryPolicy, Stack, TargetRef
from qplan.manifest.schema import manifest_json_schema
from qplan.manifest.sweep import DEFAULT_MAX_POINTS, Sweep

__all__ = [
    "DEFAULT_MAX_POINTS",
    "Instance",
    "Job",
    "Manifest",
    "Parameter",
    "Program",
    "RetryPolicy",
    "Stack",
    "Sweep",
    "TargetRef",
    "entry_expression",
    "entry_parameters",
    "format_value",
    "load",
    "manifest_json_schema",
    "parse_var",
]
