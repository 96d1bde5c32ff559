"""The benchmark engine behind ``ntkgd bench``: analytic Grams, timed per backend, one subprocess each.

Every configuration (architecture, depth, activation, n, backend) runs in a
fresh Python process, so that

* the **first call** pays everything a new process pays (Numba's JIT
  compilation with the disk cache off, XLA's tracing and compilation for the
  input shape); ``compile = first call - median`` is reported separately from
  the steady state;
* the **peak memory** of one call is measured in isolation: before each timed
  repeat the kernel's peak-RSS mark is reset (``/proc/self/clear_refs`` = 5;
  ``ru_maxrss`` cannot be reset and survives ``exec``), and the rise of
  ``VmHWM`` above the resident set before the call is recorded. Freed heap
  memory stays resident and would be reused without raising the peak, so
  ``malloc_trim(0)`` hands it back to the system before each repeat (glibc).

Backends: ``numba`` (:func:`ntkgd.analytic_gram`, outputs paper, ntk, nngp),
``nt`` (neural-tangents' jitted ``kernel_fn`` of the whole network, returning
nngp and ntk: what a neural-tangents user runs; for the ResNet, ntkgd's
``backend="nt"`` translation) and ``numpy`` (the layer-by-layer baseline of
:mod:`ntkgd.experiments._numpy_baseline`). neural-tangents evaluates activations without a
native layer by a deg x deg Gauss-Hermite grid per pair, deg^2 values of
memory per pair, so for those only a block of rows is computed and the time is
scaled by the number of pairs (reported as extrapolated). Configurations whose
estimated memory exceeds a cap are skipped with a note, before any process
starts.

Achieved throughput is ``pairs * layers / median``, with ``pairs = n (n + 1) / 2``
(distinct pairs of inputs) and ``layers = H`` (recursion steps per pair), for
every backend alike, so it compares work done on the same problem.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ARCHS",
    "BACKENDS",
    "OUTPUTS",
    "BenchConfig",
    "BenchResult",
    "Plan",
    "default_memory_cap",
    "machine",
    "make_configs",
    "measure",
    "plan",
    "run_benchmarks",
]

ARCHS = ("fc", "resnet", "two-layer")
BACKENDS = ("numba", "nt", "numpy")
#: What the numba and numpy backends compute (a superset of neural-tangents' nngp and ntk).
OUTPUTS = ("paper", "ntk", "nngp")

#: Peak memory in (n, n) float64 matrices, measured with this engine at n = 2000
#: (FC, ReLU): the layer-by-layer NumPy baseline peaks at 10 matrices at any
#: depth, neural-tangents' whole-network kernel_fn at about 2 H + 2 (8 at depth
#: 3, 22 at depth 10). Used only to decide what to skip, with a margin.
_NUMPY_MATRICES = 11


def _nt_matrices(depth: int) -> int:
    return 2 * depth + 4


@dataclass(frozen=True)
class BenchConfig:
    """One point of the benchmark grid.

    Attributes
    ----------
    arch : {"fc", "resnet", "two-layer"}
    depth : int
        Hidden layers H (1 for two-layer).
    activation : str
        A built-in activation name.
    n : int
        Number of inputs, seeded uniform on the unit sphere in R^d.
    backend : {"numba", "nt", "numpy"}
    d, c_res, seed
        Input dimension, the ResNet's residual scaling, the data seed.
    outputs : tuple of str
        What the numba backend computes (the other backends compute fixed sets).
    """

    arch: str
    depth: int
    activation: str
    n: int
    backend: str
    d: int = 64
    c_res: float = 0.5
    seed: int = 0
    outputs: tuple = OUTPUTS

    def spec(self):
        """The ntkgd architecture spec."""
        import ntkgd

        if self.arch == "two-layer":
            return ntkgd.TwoLayer(self.activation)
        if self.arch == "resnet":
            return ntkgd.ResNet(self.depth, self.activation, c_res=self.c_res)
        return ntkgd.FullyConnected(self.depth, self.activation)

    @property
    def pairs(self) -> int:
        """Distinct pairs of inputs, ``n (n + 1) / 2``."""
        return self.n * (self.n + 1) // 2

    def label(self) -> str:
        """Short text for progress bars and errors."""
        return f"{self.arch} H={self.depth} {self.activation} n={self.n} {self.backend}"


@dataclass
class Plan:
    """How a configuration will be measured (decided without importing any backend).

    ``mode`` is ``"full"`` (the whole Gram), ``"rows"`` (``rows`` rows against
    all n inputs, then scaled by n / rows), ``"subset"`` (the Gram of the first
    ``rows`` inputs, scaled by (n / rows)^2), or ``"unsupported"``/``"skipped"``
    with ``note`` saying why.
    """

    mode: str
    estimate_bytes: int = 0
    rows: int = 0
    scale: float = 1.0
    note: str = ""


@dataclass
class BenchResult:
    """What was measured for one configuration (times in seconds, memory in bytes).

    ``median_s`` is the full-Gram time (scaled for extrapolated configurations);
    ``times_s`` are the measured repeats as they were (of the block when
    extrapolated). ``compile_s = first_call_s - median of times_s``.
    ``peak_bytes`` is the rise of the peak resident set during one call (the
    largest over repeats); ``output_bytes`` what the call returned.
    """

    config: BenchConfig
    status: str  # "ok", "extrapolated", "skipped", "unsupported", "failed", "timeout"
    note: str = ""
    estimate_bytes: int = 0
    times_s: list = field(default_factory=list)
    first_call_s: float | None = None
    median_s: float | None = None
    spread: float | None = None
    compile_s: float | None = None
    peak_bytes: int | None = None
    output_bytes: int | None = None
    scale: float = 1.0
    pairs_layers_per_s: float | None = None
    speedup_vs_nt: float | None = None
    threads: int | None = None

    @property
    def measured(self) -> bool:
        return self.status in ("ok", "extrapolated")

    def to_json(self) -> dict:
        record = dataclasses.asdict(self)
        record["config"] = dataclasses.asdict(self.config)
        return record


def machine() -> dict:
    """CPU model, CPU counts and memory of this machine (for tables and result files)."""
    model = None
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    total = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    total = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {"cpu_model": model, "cpu_count": os.cpu_count(), "usable_cpus": usable, "memory_total_bytes": total}


def make_configs(
    arch: str,
    depths,
    ns,
    backends,
    activation: str = "relu",
    *,
    d: int = 64,
    c_res: float = 0.5,
    seed: int = 0,
) -> list[BenchConfig]:
    """The grid ``depths x ns x backends`` for one architecture and activation, validated.

    Raises
    ------
    ValueError
        Unknown architecture or backend, an empty or repeated list, depth < 1
        (or != 1 for two-layer), n < 2, d < 1, or an invalid activation/c_res
        (the spec's own error).
    """
    if arch not in ARCHS:
        raise ValueError(f"bench: unknown architecture {arch!r}; valid: {', '.join(ARCHS)}.")
    for name, values in (("depths", depths), ("n", ns), ("backends", backends)):
        values = list(values)
        if not values:
            raise ValueError(f"bench: {name} must not be empty.")
        if len(set(values)) != len(values):
            raise ValueError(f"bench: {name} has repeated entries: {values}.")
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise ValueError(f"bench: unknown backend(s) {', '.join(map(repr, unknown))}; valid: {', '.join(BACKENDS)}.")
    for depth in depths:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"bench: depths must be integers >= 1, got {depth!r}.")
    if arch == "two-layer" and list(depths) != [1]:
        raise ValueError(f"bench: two-layer has exactly one hidden layer; got depths {list(depths)} (use 1).")
    for n in ns:
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"bench: n must be integers >= 2, got {n!r}.")
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"bench: d must be an integer >= 1, got {d!r}.")
    configs = [
        BenchConfig(arch, depth, activation, n, backend, d=d, c_res=float(c_res), seed=seed)
        for depth in depths
        for n in sorted(ns)
        for backend in backends
    ]
    configs[0].spec()  # the spec validates the activation and c_res
    return configs


def _nt_native(activation: str) -> bool:
    from ..analytic import NT_NATIVE_ACTIVATIONS

    return activation in NT_NATIVE_ACTIVATIONS


def plan(config: BenchConfig, memory_cap: int, *, nt_rows: int = 16, nt_degree: int | None = None) -> Plan:
    """Decide how to measure ``config`` and estimate its peak memory; skip it above ``memory_cap`` bytes."""
    from ..analytic import NT_BLOCK_BYTES, QUADRATURE_DEGREE, numba_memory_estimate, supports
    from ._numpy_baseline import NUMPY_ACTIVATIONS

    spec = config.spec()
    n = config.n
    matrix = 8 * n * n
    deg = QUADRATURE_DEGREE if nt_degree is None else nt_degree
    if config.backend == "numba":
        result = Plan("full", numba_memory_estimate(spec, n, frozenset(config.outputs)))
    elif config.backend == "numpy":
        if config.activation not in NUMPY_ACTIVATIONS:
            return Plan("unsupported", note=f"numpy baseline: closed forms only ({', '.join(NUMPY_ACTIVATIONS)})")
        result = Plan("full", _NUMPY_MATRICES * matrix)
    else:
        if not supports(spec, "nt"):
            return Plan("unsupported", note=f"neural-tangents cannot express this ResNet with {config.activation}")
        if _nt_native(config.activation):
            result = Plan("full", _nt_matrices(config.depth) * matrix)
        else:
            # ElementwiseNumerical keeps about 2 arrays of deg^2 values per pair alive (measured: 1.19 GB
            # for 3200 pairs at deg = 150); 3 with a margin.
            per_pair = 3 * 8 * deg * deg
            if config.arch == "resnet":
                # ntkgd's nt backend (fixed QUADRATURE_DEGREE) bounds its own row blocks to NT_BLOCK_BYTES.
                rows = min(n, 8 * nt_rows)
                needed = min(per_pair * rows * rows, NT_BLOCK_BYTES) + 8 * 8 * rows * rows
                result = Plan("subset", needed, rows=rows, scale=(n / rows) ** 2)
            else:
                rows = max(1, min(n, nt_rows, memory_cap // (per_pair * n)))  # fewer rows where memory is short
                result = Plan("rows", per_pair * rows * n, rows=rows, scale=n / rows)
            if result.scale > 1:
                pairs = "rows" if result.mode == "rows" else "inputs"
                result.note = f"extrapolated: {rows} {pairs} measured, time x {result.scale:.4g} (pairs)"
    if result.estimate_bytes > memory_cap:
        from ..core import format_bytes

        return Plan(
            "skipped",
            result.estimate_bytes,
            note=f"skipped: needs ~{format_bytes(result.estimate_bytes)} > cap {format_bytes(memory_cap)}",
        )
    return result


# ------------------------------------------------------------------------------- child


def _status_bytes(field_name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {field_name}")


def _release_free_memory() -> None:
    """Return freed heap pages to the system (glibc ``malloc_trim``), so reusing them raises the RSS again."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the peak may then be underestimated
        pass


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM); False where that is impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def _unit_sphere(n: int, d: int, seed: int) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _distinct_bytes(arrays) -> int:
    """Bytes of the distinct buffers behind ``arrays`` (views share memory)."""
    buffers = {}
    for array in arrays:
        base = array if getattr(array, "base", None) is None else array.base
        # size * itemsize: a JAX array's nbytes uses the default (32-bit) itemsize outside enable_x64.
        buffers[id(base)] = base.size * np.dtype(base.dtype).itemsize
    return int(sum(buffers.values()))


def _callable(config: BenchConfig, spec, mode: str, rows: int, nt_degree: int | None):
    """A zero-argument function computing the configuration's Grams, and how many bytes it returns."""
    X = _unit_sphere(config.n, config.d, config.seed)
    if config.backend == "numba":
        import ntkgd

        def call():
            g = ntkgd.analytic_gram(spec, X, outputs=config.outputs)
            return [a for name in g.available() for a in (g.layers if name == "layers" else (getattr(g, name),))]

        return call
    if config.backend == "numpy":
        from ._numpy_baseline import numpy_grams

        return lambda: list(numpy_grams(spec, X).values())
    if config.arch == "resnet":
        import ntkgd

        X_used = X[:rows] if mode == "subset" else X

        def call_resnet():
            g = ntkgd.analytic_gram(spec, X_used, backend="nt", outputs=("ntk", "nngp"))
            return [g.ntk, g.nngp]

        return call_resnet
    import jax.numpy as jnp
    from jax.experimental import enable_x64

    from ..analytic import QUADRATURE_DEGREE, stax_kernel_fn

    with enable_x64():
        kernel_fn = stax_kernel_fn(spec, config.d, quadrature_degree=nt_degree or QUADRATURE_DEGREE)
        x2 = jnp.asarray(X)
        x1 = x2[:rows] if mode == "rows" else None

    def call_nt():
        with enable_x64():
            if x1 is None:
                nngp, ntk = kernel_fn(x2, None, ("nngp", "ntk"))
            else:
                nngp, ntk = kernel_fn(x1, x2, ("nngp", "ntk"))
            nngp.block_until_ready()
            ntk.block_until_ready()
        return [nngp, ntk]

    return call_nt


def _child_main(argv: list[str]) -> int:
    """Entry point of the measuring subprocess: ``<config json> <out path>``."""
    task = json.loads(argv[0])
    config = BenchConfig(**{**task["config"], "outputs": tuple(task["config"]["outputs"])})
    spec = config.spec()
    call = _callable(config, spec, task["mode"], task["rows"], task["nt_degree"])
    gc.collect()
    start = time.perf_counter()
    result = call()
    first = time.perf_counter() - start
    output_bytes = _distinct_bytes(result)
    del result
    times, peak = [], None
    deadline = time.perf_counter() + task["max_seconds"]
    for _ in range(task["repeats"]):
        gc.collect()
        _release_free_memory()
        tracked = _reset_peak()
        before = _status_bytes("VmRSS")
        start = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - start
        if tracked:
            rise = _status_bytes("VmHWM") - before
            peak = rise if peak is None else max(peak, rise)
        del result
        times.append(seconds)
        if time.perf_counter() + seconds > deadline:  # the next repeat would overrun the budget
            break
    threads = None
    if "numba" in sys.modules:
        import numba

        threads = numba.get_num_threads()
    record = {"times_s": times, "first_call_s": first, "peak_bytes": peak, "output_bytes": output_bytes,
              "threads": threads}  # fmt: skip
    with open(argv[1], "w") as out:
        json.dump(record, out)
    return 0


# ------------------------------------------------------------------------------ parent


def measure(
    config: BenchConfig,
    the_plan: Plan,
    *,
    repeats: int = 5,
    max_seconds: float = 60.0,
    timeout: float = 900.0,
    nt_degree: int | None = None,
    numba_cache: bool = False,
) -> BenchResult:
    """Measure one planned configuration in a fresh subprocess (see the module docstring)."""
    result = BenchResult(config, the_plan.mode, the_plan.note, the_plan.estimate_bytes, scale=the_plan.scale)
    if the_plan.mode in ("skipped", "unsupported"):
        return result
    task = {
        "config": dataclasses.asdict(config),
        "mode": the_plan.mode,
        "rows": the_plan.rows,
        "nt_degree": nt_degree,
        "repeats": repeats,
        "max_seconds": max_seconds,
    }
    env = {**os.environ, "NTKGD_NUMBA_CACHE": "1" if numba_cache else "0"}
    code = "import sys; from ntkgd.experiments._bench import _child_main; sys.exit(_child_main(sys.argv[1:]))"
    with tempfile.TemporaryDirectory(prefix="ntkgd-bench-") as tmp:
        out = os.path.join(tmp, "result.json")
        try:
            done = subprocess.run(
                [sys.executable, "-c", code, json.dumps(task), out],
                env=env, capture_output=True, text=True, timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            result.status, result.note = "timeout", f"timed out after {timeout:g} s (--timeout)"
            return result
        if done.returncode != 0 or not os.path.exists(out):
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            last = lines[-1] if lines else f"exit status {done.returncode}"
            result.status, result.note = "failed", f"failed: {last}"
            return result
        with open(out) as handle:
            record = json.load(handle)
    times = record["times_s"]
    median = statistics.median(times)
    result.status = "extrapolated" if the_plan.scale > 1 else "ok"
    result.times_s = times
    result.first_call_s = record["first_call_s"]
    result.compile_s = max(record["first_call_s"] - median, 0.0)
    result.median_s = median * the_plan.scale
    result.spread = (max(times) - min(times)) / median if median > 0 else 0.0
    result.peak_bytes = record["peak_bytes"]
    result.output_bytes = record["output_bytes"]
    result.threads = record["threads"]
    if result.median_s > 0:
        result.pairs_layers_per_s = config.pairs * config.depth / result.median_s
    return result


def _attach_speedups(results: list[BenchResult]) -> None:
    """``speedup_vs_nt = nt median / this median`` for configurations measured by both."""
    nt_times = {
        dataclasses.replace(r.config, backend="nt", outputs=OUTPUTS): r.median_s
        for r in results
        if r.config.backend == "nt" and r.measured
    }
    for r in results:
        key = dataclasses.replace(r.config, backend="nt", outputs=OUTPUTS)
        nt = nt_times.get(key)
        if r.measured and nt is not None and r.median_s:
            r.speedup_vs_nt = nt / r.median_s


def default_memory_cap() -> int:
    """75% of the memory available now."""
    from ..core import available_memory

    return int(0.75 * available_memory())


def run_benchmarks(
    configs: list[BenchConfig],
    *,
    repeats: int = 5,
    max_seconds: float = 60.0,
    timeout: float = 900.0,
    memory_cap: int | None = None,
    nt_rows: int = 16,
    nt_degree: int | None = None,
    numba_cache: bool = False,
    progress: bool | None = None,
) -> list[BenchResult]:
    """Plan and measure every configuration, one subprocess each, with a progress bar.

    Parameters
    ----------
    configs : list of BenchConfig
        From :func:`make_configs`.
    repeats : int
        Timed calls per configuration after the first (untimed for the
        median) call; fewer when ``max_seconds`` runs out, at least one.
    max_seconds : float
        Budget for one configuration's repeats.
    timeout : float
        Wall-clock limit of one configuration's subprocess.
    memory_cap : int, optional
        Bytes; configurations estimated above it are skipped (default
        :func:`default_memory_cap`, evaluated before each configuration).
    nt_rows : int
        Rows measured for neural-tangents' quadrature activations.
    nt_degree : int, optional
        ``deg`` of ``ElementwiseNumerical`` (default ``QUADRATURE_DEGREE``).
    numba_cache : bool
        Let the numba backend load compiled kernels from the disk cache (the
        first call then measures loading, not compiling).
    progress : bool or None
        Show a tqdm bar on stderr (None: only on a terminal).

    Returns
    -------
    list of BenchResult
        In the order of ``configs``, with ``speedup_vs_nt`` filled in.
    """
    from tqdm import tqdm

    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"bench: repeats must be an integer >= 1, got {repeats!r}.")
    if isinstance(nt_rows, bool) or not isinstance(nt_rows, int) or nt_rows < 1:
        raise ValueError(f"bench: nt_rows must be an integer >= 1, got {nt_rows!r}.")
    if nt_degree is not None and (isinstance(nt_degree, bool) or not isinstance(nt_degree, int) or nt_degree < 2):
        raise ValueError(f"bench: nt_degree must be an integer >= 2, got {nt_degree!r}.")
    for name, value in (("max_seconds", max_seconds), ("timeout", timeout)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"bench: {name} must be a positive number of seconds, got {value!r}.")
    if memory_cap is not None and (isinstance(memory_cap, bool) or not isinstance(memory_cap, int) or memory_cap <= 0):
        raise ValueError(f"bench: memory_cap must be a positive number of bytes, got {memory_cap!r}.")
    results = []
    bar = tqdm(configs, desc="bench", unit="config", disable=(None if progress is None else not progress),
               file=sys.stderr, dynamic_ncols=True)  # fmt: skip
    for config in bar:
        bar.set_postfix_str(config.label(), refresh=True)
        # The default cap follows what is available now: the machine may be shared.
        cap = default_memory_cap() if memory_cap is None else memory_cap
        the_plan = plan(config, cap, nt_rows=nt_rows, nt_degree=nt_degree)
        options = {"repeats": repeats, "max_seconds": max_seconds, "timeout": timeout, "nt_degree": nt_degree}
        results.append(measure(config, the_plan, numba_cache=numba_cache, **options))
    bar.close()
    _attach_speedups(results)
    return results
