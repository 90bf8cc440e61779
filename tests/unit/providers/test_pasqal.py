"""The Pasqal provider's pure parts: errors mapped at the boundary, a point's variables,
the add journal, the credentials read from the environment and never shown."""

from __future__ import annotations

import pytest

from qplan.errors import QplanError
from qplan.manifest.models import PasqalProvider
from qplan.providers import AmbiguousError, PermanentError, TransientError
from qplan.providers.pasqal import PasqalCloudProvider as P
from qplan.providers.pasqal import _journal, _one_parent, job_variables
from qplan.providers.pasqal_client import HttpFailure, NoAnswer, make_sdk, redact
from tests.pulser_programs import flip

CONFIG = PasqalProvider(type="pasqal", project_id="proj-1")


@pytest.fixture(scope="module")
def provider() -> P:
    return P("pq", CONFIG, environ={"PASQAL_TOKEN": "t0ken", "PASQAL_ENDPOINT": "http://x"})


@pytest.mark.parametrize(
    ("status", "write", "kind"),
    [
        (429, True, TransientError),
        (408, False, TransientError),
        (502, True, AmbiguousError),  # the batch may have been made: looked up by its tag
        (503, True, AmbiguousError),
        (504, False, TransientError),  # a read: asked again at the next poll
        (400, True, PermanentError),
        (404, False, PermanentError),
    ],
)
def test_http_errors_are_transient_ambiguous_or_permanent(
    provider: P, status: int, write: bool, kind: type[Exception]
) -> None:
    method = "POST" if write else "GET"
    error = provider.map_error(
        HttpFailure(method, status, "the service's words"), "a[x=1]", write=write
    )
    assert type(error) is kind
    assert str(error) == f"a[x=1]: Pasqal Cloud {status}: the service's words"


def test_a_refused_token_says_what_to_set(provider: P) -> None:
    error = provider.map_error(HttpFailure("GET", 401, "invalid token"), write=False)
    assert isinstance(error, PermanentError) and "PASQAL_TOKEN" in str(error)


def test_no_answer_to_a_write_is_ambiguous_unless_it_was_never_sent(provider: P) -> None:
    lost = NoAnswer("POST", "no answer: read timed out", sent=True)
    refused = NoAnswer("POST", "cannot connect", sent=False)
    assert isinstance(provider.map_error(lost, write=True), AmbiguousError)
    assert isinstance(provider.map_error(refused, write=True), TransientError)
    assert isinstance(provider.map_error(lost, write=False), TransientError)


def test_the_sdks_base_exceptions_are_caught_and_mapped(provider: P) -> None:
    from pasqal_cloud.errors import BatchCreationError
    from requests import HTTPError

    def create() -> None:
        raise BatchCreationError(HTTPError("connection reset"))

    with pytest.raises(AmbiguousError, match="BatchCreationError"):
        provider._call(create, write=True)


def test_a_point_becomes_the_jobs_variables_with_its_trap_mapping() -> None:
    point = {"omega_max": 10.5, "qubits": {"q1": 5, "q0": 1}, "phases": [0.0, 1.5]}
    assert job_variables(point) == {
        "omega_max": 10.5,
        "phases": [0.0, 1.5],
        "qubits": {"q1": 5, "q0": 1},
    }
    assert job_variables({}) is None


def test_the_add_journal_entry_names_where_the_added_jobs_are() -> None:
    assert _journal("k1", "k1@12+3") == (12, 3)
    assert _journal("k1", "k1@rebatch") is None
    assert _journal("k1", "k10@1+1") is None  # another key's
    assert _journal("k1", "k1") is None


def test_a_retry_is_a_rebatch_only_when_its_points_failed_in_one_batch() -> None:
    from qplan.providers import Dispatch, Member

    def dispatch(*previous: str | None) -> Dispatch:
        members = tuple(
            Member(f"a[x={i}]", "fp", 2, {"theta": 0.1}, "a", previous=p)
            for i, p in enumerate(previous)
        )
        return Dispatch("key", "s", "EMU_FREE", "pulser", flip(), 10, members)

    assert _one_parent(dispatch("b1/j1", "b1/j3")) == ("b1", ["j1", "j3"])
    assert _one_parent(dispatch("b1/j1", "b2/j3")) is None  # two batches: a new one
    assert _one_parent(dispatch("b1/j1", None)) is None  # a first attempt among them


def test_credentials_come_from_the_environment_and_never_show() -> None:
    with pytest.raises(
        QplanError, match="set PASQAL_TOKEN, or PASQAL_USERNAME and PASQAL_PASSWORD"
    ):
        make_sdk(CONFIG, {})
    sdk = make_sdk(CONFIG, {"PASQAL_TOKEN": "s3cret-token"})
    assert "s3cret-token" not in repr(sdk._client.authenticator.token_provider)
    assert redact("Authorization: Bearer abc.def-123") == "Authorization: Bearer ***"
