"""Regenerate afm.json: an antiferromagnetic-state preparation on 3 atoms in a line.

The Rabi frequency is a declared variable, ``omega_max``; the manifest sweeps it.
Run with pulser-core installed: ``python make_afm.py > afm.json``.
"""

from pulser import Pulse, Register, Sequence
from pulser.devices import AnalogDevice
from pulser.waveforms import RampWaveform

register = Register.rectangle(1, 3, spacing=6.0, prefix="q")
sequence = Sequence(register, AnalogDevice)
sequence.declare_channel("ising", "rydberg_global")
omega_max = sequence.declare_variable("omega_max")

rise = Pulse.ConstantDetuning(RampWaveform(500, 0.0, omega_max), -6.0, 0.0)
sweep = Pulse.ConstantAmplitude(omega_max, RampWaveform(1000, -6.0, 6.0), 0.0)
fall = Pulse.ConstantDetuning(RampWaveform(500, omega_max, 0.0), 6.0, 0.0)
for pulse in (rise, sweep, fall):
    sequence.add(pulse, "ising")
sequence.measure("ground-rydberg")

print(sequence.to_abstract_repr(json_dumps_options={"indent": 1}))
