"""The failure policy as a table: what follows a failed attempt."""

from __future__ import annotations

from typing import Any

import pytest

from qplan.executor.policy import BUSY_MAX_BACKOFF, after_failure, busy_delay, jittered
from qplan.manifest import RetryPolicy
from qplan.manifest.models import RetrySpec
from tests.unit.executor.views import NOW, job, retry

CASES = [
    # attempt, attempts, on_failure, session aborted, halted, fail_fast -> retry?, halt prefix
    (1, 3, "fail", False, False, False, True, ""),
    (2, 3, "fail", False, False, False, True, ""),
    (3, 3, "fail", False, False, False, False, "scan[i=1] failed: boom"),
    (3, 3, "continue", False, False, False, False, ""),
    (3, 3, "continue", False, False, True, False, "scan[i=1] failed (--fail-fast): boom"),
    (1, 3, "fail", True, False, False, False, "scan[i=1] failed: boom"),  # session aborted
    (1, 3, "continue", False, True, False, False, ""),  # halted: no retry, no second halt
    (1, 1, "fail", False, False, False, False, "scan[i=1] failed: boom"),
]


@pytest.mark.parametrize(
    ("attempt", "attempts", "on_failure", "aborted", "halted", "fail_fast", "retries", "halt"),
    CASES,
)
def test_what_follows_a_failed_attempt(
    attempt: int,
    attempts: int,
    on_failure: str,
    aborted: bool,
    halted: bool,
    fail_fast: bool,
    retries: bool,
    halt: str,
) -> None:
    decision = after_failure(
        job(retry=retry(attempts), on_failure=on_failure),
        "scan[i=1]",
        attempt,
        "boom",
        NOW,
        session_aborted=aborted,
        halted=halted,
        fail_fast=fail_fast,
        jitter_seed="s",
    )
    assert (decision.retry_at is not None) is retries
    assert decision.halt == halt


@pytest.mark.parametrize(("failed", "delay"), [(1, 10.0), (2, 20.0), (3, 40.0), (9, 600.0)])
def test_backoff_doubles_up_to_its_cap_with_equal_jitter(failed: int, delay: float) -> None:
    decision = after_failure(
        job(retry=retry(20)),
        "a",
        failed,
        "x",
        NOW,
        session_aborted=False,
        halted=False,
        fail_fast=False,
        jitter_seed="seed",
    )
    assert decision.retry_at is not None
    assert delay / 2 <= decision.retry_at - NOW <= delay
    assert jittered(delay, "same") == jittered(delay, "same")  # one seed, one delay


def test_the_retry_defaults_are_the_schema_s_and_written_once() -> None:
    from qplan.manifest import manifest_json_schema

    def default(prop: dict[str, Any]) -> Any:  # where a template is allowed, one level down
        return prop["default"] if "default" in prop else prop["anyOf"][0]["default"]

    spec = RetrySpec()
    schema = manifest_json_schema()["$defs"]["RetrySpec"]["properties"]
    policy = RetryPolicy.of(spec)
    assert (policy.attempts, policy.backoff, policy.max_backoff) == (
        default(schema["attempts"]),
        default(schema["backoff"]),
        default(schema["max_backoff"]),
    )
    without = RetryPolicy.of(None)  # no retry: one attempt, the same delays
    assert (without.attempts, without.backoff, without.max_backoff) == (
        1,
        spec.backoff,
        spec.max_backoff,
    )


def test_a_busy_provider_is_waited_for_longer_each_time_up_to_a_minute() -> None:
    delays = [busy_delay(tries, "k") for tries in (1, 2, 3, 10)]
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2 and 2 <= delays[2] <= 4
    assert delays[3] <= BUSY_MAX_BACKOFF


def test_a_provider_busy_for_days_is_still_waited_for_a_minute_at_most() -> None:
    """A thousand refusals once overflowed the doubling (an internal error, exit 70)."""
    assert BUSY_MAX_BACKOFF / 2 <= busy_delay(5000, "k") <= BUSY_MAX_BACKOFF
    policy = RetryPolicy(attempts=5000, backoff=1.0, max_backoff=600.0)
    assert policy.delay(4999) == 600.0
