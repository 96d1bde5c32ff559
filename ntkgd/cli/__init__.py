"""The ``ntkgd`` command line: one module per command, heavy imports inside each command.

``ntkgd --help`` imports only :mod:`argparse` and the (light) ntkgd package, so
it starts without loading Numba, JAX or neural-tangents; each command imports
what it needs when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

__all__ = ["main"]

#: Command name -> module in ntkgd.cli defining ``add_parser(subparsers)`` and ``run(args) -> int``.
COMMANDS = {
    "lambda0": "ntkgd.cli._lambda0",
    "gram": "ntkgd.cli._gram",
    "bench": "ntkgd.cli._bench",
    "crosscheck": "ntkgd.cli._crosscheck",
    "train": "ntkgd.cli._train",
    "sweep": "ntkgd.cli._sweep",
    "cache-clear": "ntkgd.cli._cache",
}


def _user_errors() -> tuple[type[BaseException], ...]:
    from ..core import GramTooLargeError, UnsupportedBackendError

    # FileNotFoundError, PermissionError, IsADirectoryError, ... : bad paths are user errors too.
    return (ValueError, TypeError, OSError, GramTooLargeError, UnsupportedBackendError)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every command registered."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="ntkgd",
        description="Analytic NTK Gram matrices and their spectra for Du et al. (2019), "
        "'Gradient Descent Finds Global Minima of Deep Neural Networks'.",
    )
    parser.add_argument("--version", action="version", version=f"ntkgd {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 2 usage or input error).

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
        return args.run(args)
    except BrokenPipeError:  # e.g. `ntkgd gram ... | head`: the reader left; stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except _user_errors() as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"ntkgd {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ntkgd {args.command}: interrupted", file=sys.stderr)
        return 130
