"""The local provider's Q# device: the entry expression it runs, and a clear refusal when
qdk is not installed. (Runs themselves are tested end to end in tests/e2e.)"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

from qplan.manifest.models import LocalProvider as LocalConfig
from qplan.providers import Dispatch, Member, PermanentError, local
from qplan.providers.local import LocalSimulatorProvider, qsharp_expression

SOURCE = """\
namespace Sweep {
    operation Run(n : Int, theta : Double, bases : Pauli[]) : Result[] {
        use qubits = Qubit[n];
        MResetEachZ(qubits)
    }
}
"""


def dispatch(inputs: dict[str, Any], entry: str | None = "Sweep.Run") -> Dispatch:
    member = Member("scan[theta=1.0]", "fp", 1, inputs, "scan")
    return Dispatch("key", "stack", "qsharp", "qsharp", SOURCE, 10, (member,), entry=entry)


@pytest.fixture
def provider() -> Iterator[LocalSimulatorProvider]:
    made = LocalSimulatorProvider("local", LocalConfig(type="local", workers=1))
    yield made
    made.close()


def test_the_entry_is_called_with_the_member_inputs_as_q_sharp_literals() -> None:
    sent = dispatch({"theta": 1, "n": 2, "bases": ["X", "PauliZ"]})
    assert qsharp_expression(sent, sent.members[0]) == "Sweep.Run(2, 1.0, [PauliX, PauliZ])"


@pytest.mark.parametrize(
    ("inputs", "entry", "message"),
    [
        ({"n": 2, "theta": 1.0, "bases": []}, None, "a Q# program needs its entry operation"),
        ({"n": 2, "theta": 1.0, "bases": []}, "Sweep.Walk", "declares no operation 'Sweep.Walk'"),
        ({"n": 2, "bases": []}, "Sweep.Run", "no value for parameter 'theta' of Sweep.Run"),
        (
            {"n": 2, "theta": float("nan"), "bases": []},
            "Sweep.Run",
            "parameter 'theta' of Sweep.Run: must be a finite number (Q# Double)",
        ),
    ],
)
def test_a_dispatch_that_does_not_fit_the_signature_is_refused(
    provider: LocalSimulatorProvider, inputs: dict[str, Any], entry: str | None, message: str
) -> None:
    with pytest.raises(PermanentError) as info:
        provider.submit(dispatch(inputs, entry))
    assert message in str(info.value)


def test_without_qdk_a_q_sharp_dispatch_says_how_to_install_it(
    provider: LocalSimulatorProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "qdk" else found(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert local._missing("openqasm3") is None
    with pytest.raises(PermanentError) as info:
        provider.submit(dispatch({"n": 2, "theta": 1.0, "bases": []}))
    assert str(info.value) == (
        "Q# programs run on qdk's simulator, which is not installed: pip install 'qplan[azure]'"
    )
