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


@functools.cache
def mappable(rows: int = 2, qubits: int = 4, duration: int = 500) -> str:
    """A mappable register of ``qubits`` qubits on a layout of ``rows`` rows of four traps,
    6 µm apart (two rows: eight traps), under a global pulse of amplitude ``omega`` lasting
    ``duration`` ns: each point maps the first qubits to traps (``qubits: {q0: 1, q1: 4,
    q2: 6}``)."""
    from pulser import Pulse, Sequence
    from pulser.devices import AnalogDevice
    from pulser.register.register_layout import RegisterLayout

    traps = [(6.0 * column, 6.0 * row) for row in range(rows) for column in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        register = RegisterLayout(traps).make_mappable_register(n_qubits=qubits)
        sequence = Sequence(register, AnalogDevice)
        sequence.declare_channel("ryd", "rydberg_global")
        omega = sequence.declare_variable("omega")
        sequence.add(Pulse.ConstantPulse(duration, omega, 0.0, 0.0), "ryd")
        sequence.measure("ground-rydberg")
        return str(sequence.to_abstract_repr())
