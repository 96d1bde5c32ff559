"""The ``ntkgd`` command line: one module per command, heavy imports inside each command.

``ntkgd --help`` imports only :mod:`argparse` and the (light) ntkgd package, so
it starts without loading Numba, JAX or neural-tangents; each command imports
what it needs when it runs.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
import warnings

__all__ = ["main"]

#: Command name -> module in ntkgd.cli defining ``add_parser(subparsers)`` and ``run(args) -> int``.
COMMANDS = {
    "lambda0": "ntkgd.cli._lambda0",
    "gram": "ntkgd.cli._gram",
    "bench": "ntkgd.cli._bench",
    "crosscheck": "ntkgd.cli._crosscheck",
    "train": "ntkgd.cli._train",
    "sweep": "ntkgd.cli._sweep",
    "depth": "ntkgd.cli._depth",
    "predict": "ntkgd.cli._predict",
    "theory": "ntkgd.cli._theory",
    "cache-clear": "ntkgd.cli._cache",
}


#: Exit codes: 0 success, 1 a run that failed on its own terms (e.g. GD diverged), 2 usage or input
#: error, 3 an internal error (a bug: rerun with --debug for the traceback), 130 interrupted.
EXIT_INTERNAL = 3


def _user_errors() -> tuple[type[BaseException], ...]:
    from ..core import GramTooLargeError, UnsupportedBackendError

    # FileNotFoundError, PermissionError, IsADirectoryError, ... : bad paths are user errors too;
    # NotImplementedError is what ntkgd raises for a combination it does not offer (e.g. tiled
    # ConvResNet Grams), with the alternative in its message.
    return (ValueError, TypeError, OSError, NotImplementedError, GramTooLargeError, UnsupportedBackendError)


def _is_internal(exc: BaseException) -> bool:
    """Errors that no input should cause: linear-algebra failures, assertions, Numba's errors."""
    import numpy as np

    if isinstance(exc, (np.linalg.LinAlgError, AssertionError)):
        return True
    module = type(exc).__module__ or ""
    return module.startswith(("numba", "llvmlite", "jax", "scipy.linalg")) or not isinstance(exc, _user_errors())


def _show_warning(command: str, message, category, filename, lineno, file=None, line=None) -> None:
    """A library warning in one line on stderr, as the command's own (no file or line of ntkgd's source)."""
    text = " ".join(str(message).split())
    print(f"ntkgd {command}: warning: {text}", file=sys.stderr)


def _memory_message(exc: BaseException, args) -> str | None:
    """A memory refusal worded for the command line: its flags, not the library's arguments."""
    from ..core import GramTooLargeError, format_bytes

    advice = getattr(args, "memory_advice", None)
    if not isinstance(exc, GramTooLargeError) or advice is None or exc.what is None:
        return None
    return (
        f"{exc.what} needs about {format_bytes(exc.needed)}, but only {format_bytes(exc.limit)} may be used "
        f"(--memory-limit; default 90% of the available memory). {advice}"
    )


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every command registered."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="ntkgd",
        description="Analytic NTK Gram matrices and their spectra for Du et al. (2019), "
        "'Gradient Descent Finds Global Minima of Deep Neural Networks'.",
    )
    parser.add_argument("--version", action="version", version=f"ntkgd {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of any error")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).add_parser(subparsers)
    for command in subparsers.choices.values():  # `ntkgd gram ... --debug` works too
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the full traceback of any error")  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (see :data:`EXIT_INTERNAL` and the codes above it).

    A bad input is reported in one line (exit 2). An error that no input should
    cause (a ``LinAlgError``, an ``AssertionError``, a Numba error, anything
    unexpected) is reported as an internal error (exit 3) with a hint to rerun
    with ``--debug``, which shows the traceback of any error instead.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and argparse's own usage errors
        return exit_.code if isinstance(exit_.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    args.argv = ["ntkgd", *argv]
    try:
        with warnings.catch_warnings():  # library warnings are shown, one line each, never raised
            warnings.simplefilter("default")
            warnings.showwarning = functools.partial(_show_warning, args.command)
            return args.run(args)
    except BrokenPipeError:  # e.g. `ntkgd gram ... | head`: the reader left; stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except KeyboardInterrupt:
        print(f"ntkgd {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if getattr(args, "debug", False):
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        message = _memory_message(exc, args) or message
        if _is_internal(exc):
            print(
                f"ntkgd {args.command}: internal error ({type(exc).__module__}.{type(exc).__qualname__}): {message}\n"
                f"This is a bug in ntkgd, not a problem with your input. Rerun with --debug for the traceback and "
                "report it.",
                file=sys.stderr,
            )
            return EXIT_INTERNAL
        print(f"ntkgd {args.command}: error: {message}", file=sys.stderr)
        return 2
