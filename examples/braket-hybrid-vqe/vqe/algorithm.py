"""VQE for a two-qubit model of H2 at one bond length, as a Braket hybrid job.

H = c0 I + c1 (Z0 - Z1) + c2 (X0 X1 + Y0 Y1), its coefficients read from the input channel
``hamiltonian`` for the bond length in the hyperparameters. The ansatz
cos(t/2)|01> + sin(t/2)|10> holds the ground state; its energy is measured in three bases,
and t follows the parameter-shift gradient. Each iteration logs ``energy`` and ``theta``
(``log_metric``) and saves a checkpoint, so a retried job resumes where the failed one
stopped. The final values are saved with ``save_job_result``.

Hyperparameters: bond_length, iterations, stepsize, shots, initial_theta, and
crash_at_iteration (raise once at that iteration, to rehearse retries).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence

from braket.circuits import Circuit
from braket.jobs import get_checkpoint_dir, get_input_data_dir, get_job_device_arn, save_job_result
from braket.jobs.environment_variables import get_hyperparameters
from braket.jobs.metrics import log_metric

BASES = ("zz", "xx", "yy")


def device():
    """The job's device: a local simulator or a Braket device, from the job's environment."""
    arn = get_job_device_arn()
    if arn.startswith("local:"):
        from braket.devices import LocalSimulator

        return LocalSimulator(arn.rsplit("/", 1)[-1])
    from braket.aws import AwsDevice

    return AwsDevice(arn)


def ansatz(theta: float, basis: str) -> Circuit:
    circuit = Circuit().ry(0, theta).x(1).cnot(0, 1)
    for qubit in (0, 1):
        if basis == "xx":
            circuit.h(qubit)
        elif basis == "yy":
            circuit.si(qubit).h(qubit)
    return circuit


def expectations(counts: dict[str, int]) -> tuple[float, float, float]:
    """<Z0>, <Z1> and <Z0 Z1> of measured bitstrings (qubit 0 first)."""
    total = sum(counts.values())
    z0 = sum(n * (1 if bits[0] == "0" else -1) for bits, n in counts.items()) / total
    z1 = sum(n * (1 if bits[1] == "0" else -1) for bits, n in counts.items()) / total
    zz = sum(n * (1 if bits[0] == bits[1] else -1) for bits, n in counts.items()) / total
    return z0, z1, zz


def energies(dev, thetas: Sequence[float], c: dict[str, float], shots: int) -> list[float]:
    """The energy at each angle, every circuit of them in one batch."""
    circuits = [ansatz(t, b) for t in thetas for b in BASES]
    results = dev.run_batch(circuits, shots=shots).results()
    out = []
    for i in range(len(thetas)):
        z, x, y = (results[3 * i + k].measurement_counts for k in range(3))
        z0, z1, _ = expectations(z)
        out.append(
            c["c0"] + c["c1"] * (z0 - z1) + c["c2"] * (expectations(x)[2] + expectations(y)[2])
        )
    return out


def main() -> None:
    hp = get_hyperparameters()
    bond = float(hp["bond_length"])
    iterations = int(hp.get("iterations", 12))
    stepsize = float(hp.get("stepsize", 1.0))
    shots = int(hp.get("shots", 2000))
    crash_at = int(hp.get("crash_at_iteration", -1))
    with open(os.path.join(get_input_data_dir("hamiltonian"), "h2.json")) as handle:
        table = json.load(handle)["bond_lengths"]
    c = table[f"{bond:g}"]
    saved = os.path.join(get_checkpoint_dir(), "vqe.json")
    state = {"iteration": 0, "theta": float(hp.get("initial_theta", 0.0)), "history": []}
    if os.path.exists(saved):
        with open(saved) as handle:
            state = json.load(handle)
        print(f"resuming from the checkpoint at iteration {state['iteration']}")
    print(f"VQE for H2 at {bond} angstrom on {get_job_device_arn()}: {iterations} iterations")
    dev = device()
    theta = state["theta"]
    for i in range(state["iteration"], iterations):
        if i == crash_at and not state.get("crashed"):
            state["crashed"] = True
            with open(saved, "w") as handle:
                json.dump(state, handle)
            raise RuntimeError(f"crash_at_iteration={crash_at}: failing once, as asked")
        shifted = [theta, theta + math.pi / 2, theta - math.pi / 2]
        energy, plus, minus = energies(dev, shifted, c, shots)
        log_metric("energy", energy, iteration_number=i)
        log_metric("theta", theta, iteration_number=i)
        state["history"].append(energy)
        theta -= stepsize * (plus - minus) / 2
        state.update(iteration=i + 1, theta=theta)
        with open(saved, "w") as handle:
            json.dump(state, handle)
    final = energies(dev, [theta], c, shots)[0]
    log_metric("energy", final, iteration_number=iterations)
    print(f"energy {final:.5f} hartree (exact {c['exact']:.5f}) at theta {theta:.4f}")
    save_job_result(
        {
            "bond_length": bond,
            "energy": final,
            "exact": c["exact"],
            "theta": theta,
            "energies": state["history"] + [final],
        }
    )
