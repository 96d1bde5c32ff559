"""Exception types raised by ntkgd, so that callers can catch ours precisely."""

from __future__ import annotations

__all__ = ["DivergenceError", "GramTooLargeError", "UnsupportedBackendError"]


class UnsupportedBackendError(ValueError):
    """A backend was asked for a network it cannot express exactly."""


class GramTooLargeError(MemoryError):
    """The requested Gram matrices would not fit in the memory allowed for them.

    ``what`` (the computation), ``needed`` and ``limit`` (bytes) let an
    interface word its own advice (the command line names its flags).
    """

    def __init__(self, message: str, *, what: str | None = None, needed: int | None = None,
                 limit: int | None = None):  # fmt: skip
        super().__init__(message)
        self.what, self.needed, self.limit = what, needed, limit


class DivergenceError(RuntimeError):
    """Gradient descent diverged; ``trajectory`` holds the run up to the step where it was detected.

    ``details`` says how (``step``, ``loss``, ``threshold``, ``lr``, ``stable_lr`` =
    2 / lambda_max(G(0)), ``reason``), so that an interface can word its own advice.
    """

    def __init__(self, message: str, trajectory=None, details: dict | None = None):
        super().__init__(message)
        self.trajectory = trajectory
        self.details = dict(details or {})
