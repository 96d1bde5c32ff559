"""What several ``ntkgd`` commands share: option groups, their parsing, and the output helpers.

Every command module imports from here and from the library, never from
another command module. Heavy packages are imported inside the functions, so
registering the commands (``ntkgd --help``) stays instant.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from pathlib import Path

from ..specs import ARCHITECTURES

__all__ = [
    "ARCHS",
    "JAX_PACKAGES",
    "PLOT_FORMATS",
    "add_data_arguments",
    "add_label_arguments",
    "add_network_arguments",
    "add_output_arguments",
    "add_problem_arguments",
    "build_arch",
    "check_common",
    "check_plot",
    "check_writable_dir",
    "data_label",
    "describe_arch",
    "load_dataset",
    "Problem",
    "int_list",
    "load_problem",
    "memory_size",
    "network_inputs",
    "parse_classes",
    "slug",
    "split_list",
    "write_results",
]

#: ``--arch`` choices: the specs' families, in the order of :data:`ntkgd.specs.ARCHITECTURES`.
ARCHS = tuple(spec.family for spec in ARCHITECTURES)
#: The packages a JAX-backed command (finite networks) records in its provenance, beside CORE_PACKAGES.
JAX_PACKAGES = ("jax", "jaxlib")
#: What ``--plot FILE`` may write (matplotlib picks the format from the suffix).
PLOT_FORMATS = (".png", ".pdf", ".svg")
#: ``--memory-limit`` units: decimal unless ``iB``; a plain number is GB.
SIZE_UNITS = {"": 10**9, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9,
              "T": 10**12, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}  # fmt: skip


# --------------------------------------------------------------------------- parsing


def split_list(text: str, option: str) -> list[str]:
    """The items of a comma-separated option value; a ValueError naming ``option`` if one is empty."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise ValueError(f"{option} must be a comma-separated list without empty items, got {text!r}.")
    return items


def int_list(text: str) -> list[int]:
    """An argparse type: comma-separated integers, e.g. ``64,256,1024`` (at least one)."""
    try:
        values = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 64,256,1024; got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer, e.g. 64,256,1024")
    return values


def parse_classes(text: str | None) -> list[float] | None:
    """The labels of ``--classes`` (e.g. ``0,1``), or None when the option is absent."""
    if text is None:
        return None
    values = []
    for item in split_list(text, "--classes"):
        try:
            values.append(float(item))
        except ValueError:
            raise ValueError(f"--classes must list numeric labels, e.g. 0,1; got {item!r}.") from None
    return values


def build_arch(arch: str, depth: int | None, activation: str, c_res: float, patch: int, *,
               depth_flags: str = "--depth H"):  # fmt: skip
    """The spec of family ``arch`` (an entry of :data:`ARCHS`), given the options it takes.

    Each spec takes the options among ``depth``, ``activation``, ``c_res`` and
    ``patch`` that are fields of its dataclass; ``depth_flags`` names the
    command's depth options in the message when a deep network has none.
    """
    spec = next(spec for spec in ARCHITECTURES if spec.family == arch)
    fields = {field.name for field in dataclasses.fields(spec) if field.init}
    if "depth" not in fields:
        if depth not in (None, 1):
            raise ValueError(f"--arch {arch} has exactly one hidden layer; got --depth {depth} (omit it).")
    elif depth is None:
        raise ValueError(f"--arch {arch} needs {depth_flags} (the number of hidden layers, H >= 1).")
    options = {"depth": depth, "activation": activation, "c_res": c_res, "patch": patch}
    return spec(**{name: value for name, value in options.items() if name in fields})


# --------------------------------------------------------------------------- output


def slug(text: str) -> str:
    """``text`` made safe for a file name: runs of other characters become ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_-") or "x"


def data_label(dataset) -> str:
    """The ``data`` line of a command's table: the name and where the data came from."""
    record = dataset.provenance
    if record["kind"] == "builtin":
        return f"{dataset.name} ({record['loader']})"
    if record["kind"] == "packaged":
        return f"{dataset.name} ({record['description']})"
    if record["kind"] == "file":
        return f"{record['source']} (sha256 {record['sha256'][:12]})"
    return f"{dataset.name} (synthetic)"


def describe_arch(spec: dict) -> str:
    """``arch, activation[, c_res=..][, patch=..]`` of a spec's ``describe()``."""
    extras = "".join(f", {key}={spec[key]}" for key in ("c_res", "patch") if key in spec)
    return spec["arch"] + f", {spec['activation']}{extras}"


def check_writable_dir(path: Path, option: str) -> None:
    """Fail now if ``path`` cannot become a directory we write to, without creating it.

    The folders are made when the first result is written (``write_atomic``), so
    a refused or failed run leaves no empty output directory behind.
    """
    probe = Path(os.path.abspath(path))
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise NotADirectoryError(f"{option} {os.fspath(path)!r}: {os.fspath(probe)!r} is a file, not a directory.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PermissionError(f"{option} {os.fspath(path)!r}: no permission to write in {os.fspath(probe)!r}.")


def write_results(out: Path, stem: str, record: dict, arrays: dict | None) -> list[Path]:
    """Write ``<stem>.json`` (and ``<stem>.npz``) without clobbering; ``-2``, ``-3``, ... if taken."""
    from ..core import sha256_file, write_json_atomic, write_npz_atomic

    for attempt in range(1, 1000):
        name = stem if attempt == 1 else f"{stem}-{attempt}"
        json_path, npz_path = out / f"{name}.json", out / f"{name}.npz"
        if json_path.exists() or (arrays is not None and npz_path.exists()):
            continue
        written = []
        try:
            if arrays is not None:
                write_npz_atomic(npz_path, overwrite=False, **arrays)
                written.append(npz_path)
                record["files"]["grams"] = {
                    "path": npz_path.name,
                    "sha256": sha256_file(npz_path),
                    "arrays": {key: list(value.shape) for key, value in arrays.items()},
                }
            record["files"]["result"] = json_path.name
            write_json_atomic(json_path, record, overwrite=False)
        except FileExistsError:  # another run took this name in the meantime
            for path in written:
                path.unlink(missing_ok=True)
            continue
        return [json_path, *written]
    raise FileExistsError(f"could not find a free result file name for {out / stem}.json")


# --------------------------------------------------------------------------- shared option groups


def memory_size(text: str) -> int:
    """An argparse type: a memory size such as ``8GB``, ``512MB`` or ``2GiB`` (a plain number is GB)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).upper() if match else None
    if not match or unit not in SIZE_UNITS or not float(match.group(1)) > 0:
        raise argparse.ArgumentTypeError(f"expected a memory size such as 8GB, 512MB or 2GiB, got {text!r}")
    return int(float(match.group(1)) * SIZE_UNITS[unit])


def check_plot(path: Path | None) -> None:
    """Refuse a ``--plot`` file whose format matplotlib is not asked to write (.png, .pdf, .svg)."""
    if path is not None and path.suffix.lower() not in PLOT_FORMATS:
        raise ValueError(
            f"--plot writes {', '.join(PLOT_FORMATS)} files, chosen by the suffix; got {os.fspath(path)!r}. "
            "Give e.g. figure.pdf."
        )


def add_data_arguments(parser) -> None:
    """``--data``, ``--n``, ``--seed``, ``--classes``, ``--no-normalize``, ``--no-stratify``, ``--dim``, ...

    The same group in every command that loads a data set; :func:`load_dataset` reads it.
    """
    from ..data import BUILTIN_DATASETS, FILE_FORMATS, PACKAGED_DATASETS, SYNTHETIC_DATASETS

    data = parser.add_argument_group("data")
    sources = ", ".join([*BUILTIN_DATASETS, *PACKAGED_DATASETS, *SYNTHETIC_DATASETS])
    data.add_argument("--data", required=True, metavar="SOURCE",
                      help=f"a built-in name ({sources}) or a {'/'.join(FILE_FORMATS)} file")
    data.add_argument("--n", type=int, metavar="N",
                      help="keep N rows, drawn at random and stratified by class when there are labels "
                      "(default: all; required for sphere)")
    data.add_argument("--seed", type=int, default=0, metavar="S",
                      help="seed of the subsample, the sphere points and the generated labels (default 0)")
    data.add_argument("--classes", metavar="LIST",
                      help="keep only these labels, e.g. 0,1 for a binary subset as in Arora et al. (2019)")
    data.add_argument("--no-normalize", action="store_true",
                      help="keep the raw rows (default: scale every row to unit norm, the paper's assumption)")
    data.add_argument("--no-stratify", action="store_true", help="plain random subsample instead of stratified")
    data.add_argument("--dim", type=int, metavar="D", help="dimension of the sphere data (default 10)")
    data.add_argument("--label-column", metavar="COL",
                      help="CSV only: the label column (header name or 0-based index); the rest are features")
    data.add_argument("--flatten", action="store_true",
                      help=".npy/.npz only: accept images (n, ...) and flatten each to a row")


def load_dataset(args):
    """The :class:`ntkgd.data.Dataset` that :func:`add_data_arguments`' options describe."""
    from ..data import load_data

    return load_data(
        args.data, n=args.n, seed=args.seed, normalize=not args.no_normalize, d=args.dim,
        label_column=args.label_column, classes=parse_classes(args.classes),
        stratify=False if args.no_stratify else None, flatten=args.flatten,
    )  # fmt: skip


def add_network_arguments(parser, *, several_depths: bool = False) -> None:
    """``--arch``, ``--depth`` (and ``--depths``), ``--activation`` (default relu), ``--c-res``, ``--patch``."""
    from .. import ACTIVATION_NAMES

    net = parser.add_argument_group("network")
    net.add_argument("--arch", required=True, choices=ARCHS,
                     help="two-layer: the ICLR 2019 net (a = +-1 fixed, only W trained); fc, resnet, convresnet: "
                     "the deep nets of Du et al. (2019), every layer trained (convresnet keeps images as "
                     "channels x pixels)")
    depth = net.add_mutually_exclusive_group() if several_depths else net
    depth.add_argument("--depth", type=int, metavar="H", help="number of hidden layers H >= 1 (two-layer: 1)")
    if several_depths:
        depth.add_argument("--depths", metavar="LIST",
                           help="several depths, e.g. 1,2,4,8: one row (and Gram) per depth")
    net.add_argument("--activation", default="relu", metavar="NAME",
                     help=f"one of {', '.join(ACTIVATION_NAMES)} (default relu)")
    net.add_argument("--c-res", type=float, default=0.5, metavar="C",
                     help="resnet/convresnet: residual scaling c_res > 0 (default 0.5)")
    net.add_argument("--patch", type=int, default=3, metavar="Q", help="convresnet: odd patch size q (default 3)")


def network_inputs(args, dataset):
    """The inputs a network of ``--arch`` takes: the signals (channels x pixels) of images for convresnet."""
    return dataset.signals() if args.arch == "convresnet" else dataset.X


def add_label_arguments(group, *, auto: str) -> None:
    """``--labels`` (the one vocabulary :data:`ntkgd.data.ENCODINGS`) and ``--random-labels``.

    ``auto`` says what ``auto`` resolves to in this command.
    """
    from ..data import ENCODINGS

    group.add_argument("--labels", choices=ENCODINGS, default="auto", metavar="{" + ",".join(ENCODINGS) + "}",
                       help="pm1: two classes -> -1/+1; onehot: k classes -> k outputs (y^T H^-1 y is then "
                       "trace(Y^T H^-1 Y)); raw: the labels as numbers; standardize: the labels centred and scaled "
                       "to unit variance; gaussian: y_i ~ N(0, 1) drawn from --seed (a stream independent of the "
                       f"data's), the labels ignored; auto (default): {auto}")
    group.add_argument("--random-labels", action="store_true",
                       help="replace every label by a uniformly random class before encoding (Zhang et al. 2017)")


def add_output_arguments(parser, *, plot: str | None, out_default: Path | None = Path("results"),
                         out_help: str = "directory for the result files (default: results/)",
                         progress: bool = True, title: str = "output and resources",
                         memory_help: str = "memory the run may use, e.g. 8GB or 512MB (default: 90%% of the "
                         "available memory)") -> None:  # fmt: skip
    """``--out``, ``--plot FILE`` (.png, .pdf or .svg), ``--memory-limit SIZE`` and ``--no-progress``.

    ``plot`` is the help of ``--plot`` (None: the command draws nothing).
    """
    out = parser.add_argument_group(title)
    out.add_argument("--out", type=Path, default=out_default, metavar="DIR", help=out_help)
    if plot is not None:
        out.add_argument("--plot", type=Path, metavar="FILE", help=f"{plot} ({', '.join(PLOT_FORMATS)}, by suffix)")
    out.add_argument("--memory-limit", type=memory_size, metavar="SIZE", help=memory_help)
    if progress:
        out.add_argument("--no-progress", action="store_true", help="no progress bars")


# --------------------------------------------------------------------------- train and sweep


def add_problem_arguments(parser, command: str) -> None:
    """The data, label, network and gradient-descent options of ``train`` and ``sweep``."""
    add_data_arguments(parser)
    labels = parser.add_argument_group("targets (the network has one output)")
    add_label_arguments(labels, auto="pm1 for two classes, standardize for more, gaussian without labels")
    labels.add_argument("--test", type=int, metavar="N_TEST",
                        help="hold out N_TEST further rows of the data set as test points, disjoint from the --n "
                        "training rows (stratified by class; targets encoded with the training ones): the "
                        "network's test outputs are tracked against the infinite-width prediction")
    if command == "train":
        labels.add_argument("--with-random-labels", action="store_true",
                            help="also train the same network on random labels and compare (Arora et al. 2019)")
    add_network_arguments(parser)
    gd = parser.add_argument_group("gradient descent")
    gd.add_argument("--steps", type=int, default=500, metavar="T", help="GD steps (default 500)")
    gd.add_argument("--lr", type=float, metavar="ETA",
                    help="step size (default: 1 / lambda_max of the analytic NTK, half the stability limit)")
    gd.add_argument("--track-every", type=int, default=10, metavar="K",
                    help="record the Grams and the other tracked quantities every K steps (default 10)")


def require_at_least(option: str, value: int, minimum: int, meaning: str) -> None:
    """A ValueError naming ``option``, what it counts and the value given, unless ``value >= minimum``."""
    if value < minimum:
        raise ValueError(f"{option} must be >= {minimum} ({meaning}), got {value}.")


def check_common(args) -> None:
    """Argument checks of ``train`` and ``sweep`` that argparse cannot express."""
    require_at_least("--steps", args.steps, 0, "the number of GD steps")
    require_at_least("--track-every", args.track_every, 1, "GD steps between two records")
    if args.lr is not None and not args.lr > 0:
        raise ValueError(f"--lr must be > 0 (the GD step size), got {args.lr}; omit it for the default.")
    check_plot(getattr(args, "plot", None))


@dataclasses.dataclass(frozen=True)
class Problem:
    """What :func:`load_problem` returns: the training set, the network, targets, and the held-out test points.

    ``y_random`` (the targets of random labels) is None unless ``--with-random-labels`` is given;
    ``test``, ``X_test``, ``y_test`` (and ``y_test_random``) are None without ``--test``.
    """

    dataset: object
    arch: object
    X: object
    y: object
    label_text: str
    y_random: object = None
    test: object = None
    X_test: object = None
    y_test: object = None
    y_test_random: object = None


def load_problem(args) -> Problem:
    """The :class:`Problem` that :func:`add_problem_arguments`' options describe.

    With ``--test N``, ``--n + N`` rows are loaded, the targets are encoded on
    all of them (one encoding, e.g. one +-1 assignment or one standardisation
    for both sets), and ``N`` rows are held out (:func:`ntkgd.data.held_out_rows`).
    """
    import numpy as np

    from ..data import held_out_rows, training_targets

    arch = build_arch(args.arch, args.depth, args.activation, args.c_res, args.patch)
    n_test = getattr(args, "test", None)
    if n_test is not None:
        require_at_least("--test", n_test, 1, "the number of held-out test points")
    if n_test is not None and args.n is not None:
        args = argparse.Namespace(**{**vars(args), "n": args.n + n_test})
    dataset = load_dataset(args)
    y, text = training_targets(dataset.y, args.labels, args.seed, dataset.n, random=args.random_labels)
    y_random = None
    if getattr(args, "with_random_labels", False):
        if dataset.y is None:
            raise ValueError(f"--with-random-labels needs labels, and {dataset.name!r} has none.")
        y_random, _ = training_targets(dataset.y, args.labels, args.seed, dataset.n, random=True)
    y = np.asarray(y)
    if n_test is None:
        return Problem(dataset, arch, network_inputs(args, dataset), y, text, y_random)
    from ..data import split_at

    # Stratified by class when there are labels, unless --no-stratify (train_test_split's default).
    stratify = dataset.y is not None and not args.no_stratify
    held = held_out_rows(dataset, n_test, seed=args.seed, stratify=stratify)
    keep = np.setdiff1d(np.arange(dataset.n), held)
    train_set, test_set = split_at(dataset, held, seed=args.seed, stratify=stratify)
    random_train, random_test = (None, None) if y_random is None else (np.asarray(y_random)[keep], np.asarray(y_random)[held])
    return Problem(
        train_set, arch, network_inputs(args, train_set), y[keep], text + f"; {n_test} held-out test points",
        random_train, test_set, network_inputs(args, test_set), y[held], random_test,
    )  # fmt: skip
