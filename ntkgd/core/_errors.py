"""Exception types raised by ntkgd, so that callers can catch ours precisely."""

from __future__ import annotations

__all__ = ["DivergenceError", "GramTooLargeError", "UnsupportedBackendError"]


class UnsupportedBackendError(ValueError):
    """A backend was asked for a network it cannot express exactly."""


class GramTooLargeError(MemoryError):
    """The requested Gram matrices would not fit in the memory allowed for them."""


class DivergenceError(RuntimeError):
    """Gradient descent diverged; ``trajectory`` holds the run up to the step where it was detected."""

    def __init__(self, message: str, trajectory=None):
        super().__init__(message)
        self.trajectory = trajectory
