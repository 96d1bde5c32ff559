"""Exception types raised by ntkgd, so that callers can catch ours precisely."""

from __future__ import annotations

__all__ = ["GramTooLargeError", "UnsupportedBackendError"]


class UnsupportedBackendError(ValueError):
    """A backend was asked for a network it cannot express exactly."""


class GramTooLargeError(MemoryError):
    """The requested Gram matrices would not fit in the memory allowed for them."""
