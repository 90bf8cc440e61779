"""Pulser sequences the tests send to the Pasqal provider and its emulator, made here with
Pulser (imported on first use: it takes a second)."""

from __future__ import annotations

import functools
import warnings


@functools.cache
def flip() -> str:
    """One atom under a 1 µs square Rydberg pulse of amplitude ``theta`` (rad/µs): the
    pulse's area is ``theta``, so ``theta`` = pi flips it (every shot reads ``1``) and 0
    leaves it (``0``), like ``ry(theta)`` on a qubit."""
    from pulser import Pulse, Register, Sequence
    from pulser.devices import AnalogDevice

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sequence = Sequence(Register.from_coordinates([(0.0, 0.0)], prefix="q"), AnalogDevice)
        sequence.declare_channel("ryd", "rydberg_global")
        theta = sequence.declare_variable("theta")
        sequence.add(Pulse.ConstantPulse(1000, theta, 0.0, 0.0), "ryd")
        sequence.measure("ground-rydberg")
        return str(sequence.to_abstract_repr())
