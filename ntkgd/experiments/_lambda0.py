"""The lambda_0 study: Grams of one data set at several depths, their spectra and the label quantities.

For every depth, :func:`lambda0_study` builds the Grams asked for (the paper's
K^(H), whose lambda_min is lambda_0, and/or the full NTK), factorises each in
place (no second n x n copy) and records lambda_min, lambda_max, the condition
number and, when the data has labels, ``y^T H^-1 y`` and Arora et al.'s
generalisation measure ``sqrt(2 y^T H^-1 y / n)``, for the true labels and
for every label-noise level of the sweep (one factorisation serves them all).
The memory is estimated first. A dense network's Gram that does not fit as an
n x n array (``method="auto"``), or any with ``method="packed"``, is held as the
block rows of its lower triangle (about half the memory) and factorised there
(:func:`ntkgd.linalg.packed_spectrum`); a run that fits neither way is refused
with the estimate and the largest n that fits.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Lambda0Study", "check_labels", "lambda0_study"]
#: Block Lanczos of the packed path: vectors per block and most steps (its basis is n x 4 x 151).
_PACKED_LANCZOS = {"block": 4, "max_steps": 150}


@dataclass
class Lambda0Study:
    """What :func:`lambda0_study` computed.

    Attributes
    ----------
    dataset : Dataset
        The data the Grams were built on.
    archs : list of specs
        One network spec per depth, in the order computed.
    kernels : list of str
        The Grams asked for, ``"paper"`` and/or ``"ntk"``.
    single_gram : bool
        True for the two-layer net, whose NTK is H^inf itself: one Gram serves every kernel.
    runs : list of dict
        One entry per (depth, kernel), depth-major: ``depth``, ``arch``, ``kernel``, ``spectrum`` (a
        :class:`ntkgd.Spectrum`), ``seconds`` (Gram and spectrum, the Gram counted on the depth's first
        kernel), ``gram_seconds``, ``spectrum_seconds`` and ``labels`` (whether the data has labels).
    labels : dict or None
        How the labels were encoded (``encoding``, ``description``, ``random_labels``, ``label_seed``,
        ``random_labels_changed`` for random labels); None without labels.
    label_noise : dict or None
        The noise sweep: ``fractions``, ``changed`` (labels actually changed per fraction) and ``seed``.
    parallel_rows : list of tuple of int
        Groups of duplicated or parallel data rows (cosine >= 1 - 1e-12).
    memory : dict
        ``estimate_bytes``, ``limit_bytes``, ``per_matrix_bytes`` and ``peak_rss_bytes``.
    memory_text : str
        The estimate in words.
    method : str
        The lambda_min solver asked for.
    timings : dict
        Seconds: ``data`` (loading and the parallel-row scan), ``gram``, ``spectrum``.
    """

    dataset: object
    archs: list
    kernels: list[str]
    single_gram: bool
    runs: list[dict]
    labels: dict | None
    label_noise: dict | None
    parallel_rows: list
    memory: dict
    memory_text: str
    method: str
    timings: dict

    def source_groups(self, groups) -> list[list[int]]:
        """Row groups of the (subsampled) data as rows of the source data set."""
        return [[self.dataset.source_row(i) for i in group] for group in groups]

    def record(self) -> dict:
        """The result-file fields of the study, from ``data`` to ``timings_s`` (the timings dict itself)."""
        dataset = self.dataset
        results = []
        for run in self.runs:
            entry = {
                "depth": run["depth"], "arch": run["arch"].describe(), "kernel": run["kernel"],
                "gram_seconds": run["gram_seconds"], "spectrum_seconds": run["spectrum_seconds"],
                **run["spectrum"].record(),
            }  # fmt: skip
            entry["parallel_rows_source"] = self.source_groups(run["spectrum"].parallel_rows)
            results.append(entry)
        return {
            "data": {
                "name": dataset.name, "n": dataset.n, "d": dataset.d, "preprocessing": dataset.preprocessing,
                **dataset.provenance,
                "parallel_rows": [list(g) for g in self.parallel_rows],
                "parallel_rows_source": self.source_groups(self.parallel_rows),
            },  # fmt: skip
            "labels": self.labels,
            "label_noise": self.label_noise,
            "arch": self.archs[0].describe(),
            "depths": [a.depth for a in self.archs],
            "kernels": self.kernels,
            "backend": "numba",
            "dtype": "float64",
            "method": self.method,
            "memory": self.memory,
            "lambda_0": next((e["lambda_min"] for e in results if e["kernel"] == "paper"), None),
            "results": results,
            "timings_s": self.timings,
        }

    def plot_runs(self) -> list[dict]:
        """The runs as :func:`ntkgd.experiments._lambda0_plots.plot_lambda0` draws them."""
        fractions = self.label_noise["fractions"] if self.label_noise else []
        runs = []
        for run in self.runs:
            s = run["spectrum"]
            runs.append({
                "depth": run["depth"], "kernel": run["kernel"], "lambda_min": s.lambda_min, "singular": s.singular,
                "noise": [(f, s.more_labels[f"noise {f:g}"]["y_inv_y"]) for f in fractions
                          if s.more_labels.get(f"noise {f:g}", {}).get("y_inv_y") is not None],
                "projections": s.projections,
                "random_projections": s.more_labels.get("random", {}).get("projections"),
            })  # fmt: skip
        return runs


def lambda0_study(
    dataset,
    archs: Sequence,
    kernels: Sequence[str] = ("paper",),
    *,
    encoding: str = "auto",
    random_labels: bool = False,
    label_noise: Sequence[float] = (),
    label_seed: int = 0,
    full_spectrum: bool = False,
    method: str = "auto",
    memory_limit: int | None = None,
    progress: bool = True,
    load_seconds: float = 0.0,
) -> Lambda0Study:
    """lambda_0, the spectrum and ``y^T H^-1 y`` of one data set for every depth and kernel.

    Parameters
    ----------
    dataset : Dataset
        From :func:`ntkgd.load_data`: ``X`` of shape (n, d), labels ``y`` of shape (n,) or None.
    archs : sequence of specs
        One spec per depth, all of one architecture (:class:`ntkgd.TwoLayer`, ``FullyConnected``,
        ``ResNet`` or ``ConvResNet``; the conv ResNet takes ``dataset.signals()``).
    kernels : sequence of {"paper", "ntk"}, default ("paper",)
        The Grams: the paper's K^(H) (lambda_min = lambda_0) and/or the full NTK.
    encoding : {"auto", "pm1", "onehot", "raw"}, default "auto"
        Label encoding for ``y^T H^-1 y`` (:func:`ntkgd.data._labels.encode_labels`).
    random_labels : bool, default False
        Replace every label by a uniformly random class first (Zhang et al. 2017).
    label_noise : sequence of float in [0, 1], default ()
        Fractions of corrupted labels; ``y^T H^-1 y`` for each, from the same factorisation.
    label_seed : int, default 0
        Seed of the label corruption.
    full_spectrum : bool, default False
        All eigenvalues and the label projections ``(v_i^T y)^2`` (O(n^3)), also for random labels.
    method : {"auto", "krylov", "dense", "packed"}, default "auto"
        The lambda_min solver of :func:`ntkgd.spectrum`, or "packed": the Gram
        held as block rows of its lower triangle and solved by
        :func:`ntkgd.linalg.packed_spectrum` (two-layer, FC and ResNet
        networks, without ``full_spectrum``). "auto" takes it when the dense
        Gram would not fit in ``memory_limit``.
    memory_limit : int, optional
        Bytes the run may use (default: 90% of the available memory).
    progress : bool, default True
        Show a progress bar on stderr.
    load_seconds : float, default 0.0
        Seconds spent loading ``dataset``, reported in ``timings["data"]``.

    Returns
    -------
    Lambda0Study
        One run per (depth, kernel), the label settings, the memory plan and the timings.

    Raises
    ------
    ValueError
        ``random_labels`` or ``label_noise`` for data without labels.
    GramTooLargeError
        The Grams and their factorisation would not fit in ``memory_limit``.
    """
    import ntkgd

    from ..data import corrupt_labels, encode_labels

    kernels, fractions = list(kernels), list(label_noise)
    t0 = time.perf_counter()
    check_labels(dataset, random_labels=random_labels, label_noise=fractions)
    needs_labels = random_labels or fractions
    data_groups = ntkgd.parallel_rows(dataset.X)
    t_data = load_seconds + time.perf_counter() - t0

    y = dataset.y
    label_info = None
    if y is not None:
        if random_labels:
            y, changed = corrupt_labels(y, 1.0, seed=label_seed)
        _, used_encoding, description = encode_labels(y, encoding)
        label_info = {
            "encoding": used_encoding,
            "description": description,
            "random_labels": bool(random_labels),
            "label_seed": label_seed if needs_labels else None,
        }
        if random_labels:
            label_info["random_labels_changed"] = changed
    more_labels = {}
    noise = None
    if fractions:
        changed_counts = []
        for fraction in fractions:
            noisy, changed = corrupt_labels(dataset.y, fraction, seed=label_seed)
            more_labels[f"noise {fraction:g}"] = noisy
            changed_counts.append(changed)
        noise = {"fractions": fractions, "changed": changed_counts, "seed": label_seed}
    if full_spectrum and y is not None:
        more_labels.setdefault("random", corrupt_labels(dataset.y, 1.0, seed=label_seed)[0])

    arch_name = archs[0].describe()["arch"]
    single_gram = arch_name == "two-layer"  # the two-layer NTK is H^inf itself
    n_matrices = 1 if single_gram else len(kernels)
    packable = arch_name != "convresnet" and not full_spectrum
    if method == "packed" and not packable:
        raise ValueError(
            "lambda0: method 'packed' needs a two-layer, FC or ResNet network and no full spectrum "
            f"(got {arch_name}{', full_spectrum' if full_spectrum else ''}); use method 'auto'."
        )
    if method == "packed":
        memory, memory_text = _packed_plan(dataset.n, dataset.d, memory_limit)
    else:
        try:
            memory, memory_text = _memory_plan(dataset.n, n_matrices, full_spectrum, memory_limit)
        except ntkgd.GramTooLargeError as dense_refusal:
            if not (packable and method == "auto"):
                raise
            try:
                memory, memory_text = _packed_plan(dataset.n, dataset.d, memory_limit)
            except ntkgd.GramTooLargeError as packed_refusal:
                # Refuse with the plan closer to fitting (at small n the dense one: the packed path's block
                # temporaries dominate there), so that the suggested --n is the larger of the two.
                if _packed_need(dataset.n, dataset.d)[0] < dense_refusal.needed:
                    raise packed_refusal from dense_refusal
                raise dense_refusal from None
    packed = memory.get("layout") == "packed"
    inputs = dataset.signals() if arch_name == "convresnet" else dataset.X

    steps = 2 * len(kernels) if packed else 1 + (1 if single_gram else len(kernels))
    bar = _Progress(len(archs) * steps, disable=not progress)
    runs, t_gram, t_spectrum = [], 0.0, 0.0
    reuse = {}  # the previous depth's arrays, overwritten by the next Gram: fresh memory's first touch is slow
    try:
        for arch in archs:
            bar.message(f"H={arch.depth}: Gram ({', '.join(kernels)}, n={dataset.n})", force=True)
            if packed:
                runs.extend(_packed_runs(arch, inputs, y, kernels, single_gram, encoding, more_labels, bar))
                t_gram += sum(run["gram_seconds"] for run in runs[-len(kernels):])
                t_spectrum += sum(run["spectrum_seconds"] for run in runs[-len(kernels):])
                continue
            t0 = time.perf_counter()
            outputs = ("paper",) if single_gram else tuple(kernels)
            gram = ntkgd.analytic_gram(arch, inputs, outputs=outputs, memory_limit=memory["limit_bytes"],
                                       **({"out": reuse} if reuse else {}))  # fmt: skip
            seconds_gram = time.perf_counter() - t0
            t_gram += seconds_gram
            bar.done()
            cache = {}
            for kernel in kernels:
                K = gram.paper if single_gram else getattr(gram, kernel)
                if id(K) not in cache:
                    bar.message(f"H={arch.depth}: {kernel} spectrum", force=True)
                    t0 = time.perf_counter()
                    cache[id(K)] = ntkgd.spectrum(
                        K, y, full=full_spectrum, in_place=True, method=method,
                        label_encoding=encoding, more_labels=more_labels or None,
                        progress=lambda text, depth=arch.depth, kernel=kernel: bar.message(
                            f"H={depth}: {kernel} {text}"
                        ),
                    )  # fmt: skip
                    seconds = time.perf_counter() - t0
                    t_spectrum += seconds
                    bar.done()
                else:
                    seconds = 0.0
                runs.append(_run(arch, kernel, cache[id(K)], seconds_gram, seconds, built_gram=kernel == kernels[0],
                                 labels=y is not None))  # fmt: skip
            if arch_name != "convresnet":  # out= takes the dense specs
                reuse = {name: getattr(gram, name) for name in outputs}
            del gram, cache, K
    finally:
        bar.close()
    memory["peak_rss_bytes"] = _peak_rss()
    return Lambda0Study(
        dataset=dataset, archs=list(archs), kernels=kernels, single_gram=single_gram, runs=runs,
        labels=label_info, label_noise=noise, parallel_rows=data_groups, memory=memory, memory_text=memory_text,
        method=method, timings={"data": t_data, "gram": t_gram, "spectrum": t_spectrum},
    )  # fmt: skip


def _packed_runs(arch, X, y, kernels, single_gram, encoding, more_labels, bar) -> list[dict]:
    """One run per kernel on the packed path: each Gram built, factorised and checked in turn."""
    from ..analytic import gram_product, packed_gram, packed_problem
    from ..core import PACKED_BLOCK
    from ..linalg import packed_spectrum

    problem = packed_problem(arch, X, PACKED_BLOCK)
    runs = []
    for kernel in kernels:
        output = "paper" if single_gram else kernel
        t0 = time.perf_counter()
        packed = packed_gram(problem, output, progress=lambda f, k=kernel: bar.message(
            f"H={arch.depth}: {k} Gram (packed) {100 * f:.0f}%"))  # fmt: skip
        seconds_gram = time.perf_counter() - t0
        bar.done()
        t0 = time.perf_counter()
        result = packed_spectrum(
            packed, lambda v, o=output: gram_product(problem, v, o), y, label_encoding=encoding,
            more_labels=more_labels or None, progress=lambda text, k=kernel: bar.message(f"H={arch.depth}: {k} {text}"),
            **_PACKED_LANCZOS,
        )  # fmt: skip
        del packed
        seconds = time.perf_counter() - t0
        bar.done()
        runs.append(_run(arch, kernel, result, seconds_gram, seconds, built_gram=True, labels=y is not None))
    return runs


def _run(arch, kernel, spectrum, gram_seconds, spectrum_seconds, *, built_gram: bool, labels: bool) -> dict:
    """One entry of :attr:`Lambda0Study.runs`; its ``seconds`` include the Gram's time if this run built it."""
    return {
        "depth": arch.depth, "arch": arch, "kernel": kernel, "spectrum": spectrum,
        "seconds": spectrum_seconds + (gram_seconds if built_gram else 0.0),
        "gram_seconds": gram_seconds, "spectrum_seconds": spectrum_seconds, "labels": labels,
    }  # fmt: skip


#: How a refused n can still be computed: the distributed path of ``ntkgd lambda0``.
_PAST_ONE_MACHINE = ("Beyond one machine's memory, tile the Gram on a Dask cluster: --scheduler local|tcp://host:port "
                     "with --store PATH.zarr (out of core) or --matrix-free.")  # fmt: skip


def _packed_need(n: int, d: int) -> tuple[int, int, int, int]:
    """Bytes of the packed path: (total, the lower triangle, the n-vectors, the block temporaries)."""
    from ..core import PACKED_BLOCK, packed_bytes

    triangle = packed_bytes(n, PACKED_BLOCK)
    vectors = 8 * n * (_PACKED_LANCZOS["block"] * (_PACKED_LANCZOS["max_steps"] + 4) + d + 16)
    side = min(PACKED_BLOCK, n)
    tiles = 4 * 8 * side * side  # a tile, its product temporaries, a diagonal copy
    return triangle + vectors + tiles, triangle, vectors, tiles


def _packed_plan(n: int, d: int, limit: int | None) -> tuple[dict, str]:
    """The memory estimate of the packed path (one Gram at a time), refused if over ``limit`` bytes."""
    from ..core import PACKED_BLOCK, GramTooLargeError, available_memory, format_bytes

    needed, triangle, vectors, tiles = _packed_need(n, d)
    limit = limit if limit is not None else int(0.9 * available_memory())
    if needed > limit:
        largest = int((2 * max(limit - vectors - tiles, 0) / 8) ** 0.5 * 0.98)
        smaller = f"Use --n {largest} or less. " if largest >= 2 else ""
        raise GramTooLargeError(
            f"lambda0: n = {n} needs about {format_bytes(needed)} even with the Gram's lower triangle in block "
            f"rows ({format_bytes(triangle)}), but only {format_bytes(limit)} may be used. {smaller}{_PAST_ONE_MACHINE}",
            needed=needed, limit=limit,
        )
    text = (f"about {format_bytes(needed)}: the lower triangle in block rows of {PACKED_BLOCK} "
            f"({format_bytes(triangle)}), factorised in place")  # fmt: skip
    return {"estimate_bytes": needed, "limit_bytes": limit, "per_matrix_bytes": triangle, "layout": "packed"}, text


def check_labels(dataset, *, random_labels: bool, label_noise: Sequence[float]) -> None:
    """A ValueError when ``random_labels`` or a ``label_noise`` sweep is asked of data without labels."""
    if (random_labels or label_noise) and dataset.y is None:
        option = "--random-labels" if random_labels else "--label-noise"
        raise ValueError(
            f"{option} needs labels, and {dataset.name!r} has none (for a .csv file name its label column with "
            "--label-column)."
        )


def _memory_plan(n: int, n_matrices: int, full: bool, limit: int | None) -> tuple[dict, str]:
    """The memory estimate of ``n_matrices`` Grams and their spectra, refused if over ``limit`` bytes."""
    from ..core import GramTooLargeError
    from ..core import available_memory, format_bytes
    from ..linalg import spectrum_memory_estimate

    matrix = 8 * n * n
    extra = spectrum_memory_estimate(n, full=full, in_place=True)
    needed = n_matrices * matrix + extra
    limit = limit if limit is not None else int(0.9 * available_memory())
    if needed > limit:
        per_n2 = 8 * n_matrices + (16 if full else 0)
        largest = int((limit / per_n2) ** 0.5 * 0.98) if per_n2 else n
        suggestion = f"use --n {largest} or less"
        if n_matrices > 1:
            suggestion += ", or one kernel (--kernel paper)"
        if full:
            suggestion += ", or drop --full-spectrum"
        raise GramTooLargeError(
            f"lambda0: n = {n} needs about {format_bytes(needed)} ({n_matrices} Gram(s) of {format_bytes(matrix)}"
            f"{', the full eigendecomposition' if full else ', Cholesky in place'}), but only "
            f"{format_bytes(limit)} may be used. {suggestion.capitalize()}. {_PAST_ONE_MACHINE}",
            needed=needed, limit=limit,
        )
    text = f"about {format_bytes(needed)}: {n_matrices} Gram(s) of {format_bytes(matrix)}"
    text += ", eigendecomposition copies" if full else ", Cholesky in place"
    return {"estimate_bytes": needed, "limit_bytes": limit, "per_matrix_bytes": matrix, "layout": "dense"}, text


def _peak_rss() -> int | None:
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except (ImportError, OSError):  # pragma: no cover - not Linux
        return None


class _Progress:
    """A tqdm bar over the stages (one Gram, then one spectrum per kernel), showing the current step."""

    def __init__(self, total: int, disable: bool):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="lambda0", unit="stage", file=sys.stderr, disable=True if disable else None,
                        bar_format="lambda0 {n_fmt}/{total_fmt} stages |{bar}| {elapsed} {desc}")  # fmt: skip
        self._last = 0.0

    def message(self, text: str, force: bool = False) -> None:
        now = time.perf_counter()
        if force or now - self._last > 0.2:
            self.bar.set_description_str(text, refresh=True)
            self._last = now

    def done(self) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
