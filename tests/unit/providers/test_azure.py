"""The Azure provider's pure parts: results normalised from each vendor's output format,
the connection read from the manifest and the environment, and what never shows a key."""

from __future__ import annotations

import json

import pytest

from qplan.errors import QplanError
from qplan.manifest.models import AzureProvider
from qplan.providers.azure import (
    CONNECTION_STRING,
    _redact,
    connection,
    job_id_of,
    normalise,
    session_id_of,
)
from qplan.providers.qdk import counts_of, openqasm_for_qdk

RESOURCE_ID = "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Quantum/Workspaces/ws"
CONFIG = AzureProvider(type="azure", resource_id=RESOURCE_ID, location="westeurope")


def output(document: object) -> bytes:
    return json.dumps(document).encode()


def test_ionq_histograms_become_counts_summing_to_the_shots_qubit_0_first() -> None:
    # outcome 1 = qubit 0 set; thirds of 100 shots cannot all round down
    histogram = {"histogram": {"0": 1 / 3, "1": 1 / 3, "2": 1 / 3}}
    counts, raw = normalise("ionq.quantum-results.v1", output(histogram), 100, qubits=2)
    assert counts == {"00": 34, "10": 33, "01": 33} and raw == histogram
    flip, _ = normalise("ionq.quantum-results.v1", output({"histogram": {"1": 1.0}}), 7, 3)
    assert flip == {"100": 7}  # qubit 0 of three


def test_qir_results_v2_are_counted_from_their_shots() -> None:
    document = {
        "DataFormat": "microsoft.quantum-results.v2",
        "Results": [{"Histogram": [], "Shots": [[1, 0], [1, 0], [0, 0], ["One", "Zero"]]}],
    }
    counts, _ = normalise("microsoft.quantum-results.v2", output(document), 4)
    assert counts == {"00": 1, "10": 3}
    histogram_only = {
        "Results": [{"Histogram": [{"Outcome": [0, 1], "Display": "[0, 1]", "Count": 5}]}]
    }
    assert normalise("microsoft.quantum-results.v2", output(histogram_only), 5)[0] == {"01": 5}


def test_quantinuum_registers_and_rigetti_ro_lists() -> None:
    registers = {"c": ["01", "01", "10"], "d": ["1", "0", "0"]}  # bit 0 rightmost
    counts, _ = normalise("honeywell.quantum-results.v1", output(registers), 3)
    assert counts == {"101": 1, "100": 1, "010": 1}  # c[0] c[1] d[0]
    ro = {"ro": [[0, 1], [0, 1], [1, 1]]}
    assert normalise("rigetti.quil-results.v1", output(ro), 3)[0] == {"01": 2, "11": 1}
    assert normalise("pasqal.pulser-results.v1", output({"10": 3, "01": 2}), 5)[0] == {
        "01": 2,
        "10": 3,
    }
    with pytest.raises(ValueError, match="not one qplan reads"):
        normalise("vendor.unknown.v9", output({}), 1)


def test_the_connection_comes_from_the_manifest_or_a_matching_connection_string() -> None:
    plain = connection(CONFIG, {})
    assert (plain.subscription, plain.resource_group, plain.workspace) == ("sub-1", "rg", "ws")
    assert plain.endpoint == "https://westeurope.quantum.azure.com/" and plain.key is None
    private = AzureProvider(
        type="azure", resource_id=RESOURCE_ID, location="westeurope", endpoint="https://q.corp/"
    )
    assert connection(private, {}).endpoint == "https://q.corp/"
    text = (
        "SubscriptionId=sub-1;ResourceGroupName=rg;WorkspaceName=ws;ApiKey=s3cret-key;"
        "QuantumEndpoint=http://127.0.0.1:9/;"
    )
    keyed = connection(CONFIG, {CONNECTION_STRING: text})
    assert keyed.key == "s3cret-key" and keyed.endpoint == "http://127.0.0.1:9/"
    assert "s3cret-key" not in repr(keyed)
    other = text.replace("WorkspaceName=ws", "WorkspaceName=prod")
    with pytest.raises(QplanError, match="WorkspaceName=prod") as refused:
        connection(CONFIG, {CONNECTION_STRING: other})
    assert "s3cret-key" not in str(refused.value)
    with pytest.raises(QplanError, match="no ApiKey"):
        connection(CONFIG, {CONNECTION_STRING: "SubscriptionId=sub-1"})


def test_ids_are_stable_guids_and_sas_tokens_never_show() -> None:
    assert job_id_of("k1") == job_id_of("k1") != job_id_of("k2")
    assert session_id_of("k1") != job_id_of("k1") and len(job_id_of("k1")) == 36
    url = "http://127.0.0.1:10000/acct/job-1/rawOutputData?sv=2024&sig=abc%2Fdef&se=2030"
    assert "sig=" not in _redact(f"failed to read {url}: 403")


def test_openqasm_in_braket_dialect_is_made_readable_by_qdk() -> None:
    braket = "OPENQASM 3.0;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\nsi q[1];\n"
    text = openqasm_for_qdk(braket)
    assert text.splitlines()[0] == (
        'OPENQASM 3.0; include "stdgates.inc"; gate cnot a, b { cx a, b; } gate si a { sdg a; }'
    )
    assert text.splitlines()[1:] == braket.splitlines()[1:]  # every line where it was
    standard = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit q;\nh q;\n'
    assert openqasm_for_qdk(standard) == standard  # nothing to add
    assert counts_of([[1, 0], ["One", "Zero"], 0]) == {"0": 1, "10": 2}


def test_a_provider_whose_sdk_is_missing_names_the_extra_to_install() -> None:
    from qplan.manifest.models import LocalProvider
    from qplan.providers import _require, check_sdks

    with pytest.raises(QplanError) as missing:
        _require("az", "Azure Quantum", "azure", ("azure.quantum", "no_such_sdk_module"))
    assert str(missing.value) == (
        "provider az: Azure Quantum needs no_such_sdk_module, which is not installed; "
        "install it with: pip install 'qplan[azure]'"
    )
    _require("az", "Azure Quantum", "azure", ("azure.quantum", "qdk"))  # installed: silent
    local = LocalProvider(type="local")
    check_sdks("local", local, {"openqasm3", "qsharp"})  # qdk is installed here
    check_sdks("local", local, {"openqasm3"})  # nothing Q#: qdk is not asked for
