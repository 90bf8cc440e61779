"""A token bucket per provider: ``rate`` submissions per second, bursts of ``burst``."""

from __future__ import annotations

from qplan.executor.clock import Clock

__all__ = ["TokenBucket"]


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self.rate = rate
        self.capacity = float(max(1, burst))
        self.clock = clock
        self.tokens = self.capacity
        self.stamp = clock.now()

    def _refill(self) -> None:
        now = self.clock.now()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def try_take(self) -> bool:
        """Take a token if one is available now."""
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_time(self) -> float:
        """Seconds until a token is available (0 if one is)."""
        self._refill()
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate
