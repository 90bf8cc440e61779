"""Imported by the local provider's fork server before it forks any worker: every worker
then starts with Braket's simulators already imported (about a second saved per worker).
Pulser is imported by a worker only when it first runs a Pulser sequence."""

import braket.default_simulator
import braket.ir.openqasm  # noqa: F401

import qplan.providers.local_worker  # noqa: F401
