"""The neural-tangents backend (``backend="nt"``): the stax translation of docs/math.md §7.

An independent implementation of the analytic Grams, for cross-checks. The
paper's network is written as a ``neural_tangents.stax`` network in NTK
parameterisation (docs/math.md §7)::

    serial(Dense(N, W_std=sqrt(d)), A,
           [Dense(N, W_std=sqrt(s)), A] * (H - 1),
           Dense(1, W_std=sqrt(s)))

with ``s = c_sigma`` for :class:`~ntkgd.FullyConnected` and ``s = 1`` for
:class:`~ntkgd.TwoLayer` (all without biases). ``W_std = sqrt(d)`` cancels
neural-tangents' ``1/sqrt(fan_in)``, since the paper has no ``1/sqrt(d)``.

neural-tangents returns only the full NTK and the NNGP. The Gram of one weight
group comes from the *prefix trick*: the kernel of the network up to (not
including) Dense #h, with its NTK set to zero, pushed through the rest of the
network, has NTK ``S_h = sum_{l >= h} G^(l)`` (every earlier weight group is
switched off). So ``G^(h) = S_h - S_{h+1}`` with ``S_{H+1} = nngp``, the output
layer's Gram. This costs ``O(H^2)`` layer evaluations for the per-layer Grams,
``O(H)`` for ``paper``, ``ntk`` or ``nngp`` alone.

This is the only module of ntkgd that imports neural-tangents (docs/design.md §4).
"""

from __future__ import annotations

import math
import sys
import types
import warnings

import numpy as np

from ..core import UnsupportedBackendError
from ..specs import Architecture, FullyConnected, ResNet, TwoLayer
from ..core import check_fits_in_memory, format_bytes

__all__ = ["NT_BLOCK_BYTES", "NT_NATIVE_ACTIVATIONS", "QUADRATURE_DEGREE", "nt_grams", "nt_refusal", "stax_kernel_fn"]

#: Gauss-Hermite nodes per axis of ``stax.ElementwiseNumerical``, used for every
#: activation without a native stax layer (softplus, tanh, sigmoid, user
#: functions). Cost and memory grow like its square, per pair of inputs.
#: Measured against the numba backend (depth 3, norms in [0.5, 2]): softplus
#: and sigmoid agree to ~1e-14 with 150 nodes but only to ~1e-12 with 100.
#: tanh converges slowly (its poles at +-i pi/2 limit Gauss-Hermite): ~4e-12
#: on unit-norm data and 1e-6 to 1e-5 for norms up to 2, even with 150 nodes.
QUADRATURE_DEGREE = 150

#: Memory one block of rows may use for neural-tangents' temporaries. Rows are
#: processed in blocks so that the quadrature's (deg, deg, rows, n) arrays stay
#: bounded; for closed-form activations one block usually covers all rows.
_BLOCK_BYTES = 512 * 2**20
#: The same bound under a public name, for the memory estimates of the benchmarks.
NT_BLOCK_BYTES = _BLOCK_BYTES

#: Assumed number of (rows, n) float64 arrays neural-tangents keeps alive while
#: it propagates a kernel (nngp, ntk, the input kernel, the partial sums S_h
#: are counted separately, plus a few per-layer temporaries).
_LAYER_TEMPORARIES = 8

#: Assumed number of (deg, deg, rows, n) float64 arrays alive in one
#: ``ElementwiseNumerical`` integral (argument, values, product, derivative).
_QUADRATURE_TEMPORARIES = 4

#: Odd activations: their Gaussian means vanish, so the paper's ResNet (post-activation
#: residual sums) is expressible in neural-tangents exactly (docs/math.md §7).
_ODD_ACTIVATIONS = ("erf", "tanh")

#: Built-in activations with an exact native stax layer (closed-form kernels).
_NATIVE_LAYERS = {
    "relu": lambda stax: stax.Relu(),
    "erf": lambda stax: stax.Erf(),
    "gelu": lambda stax: stax.Gelu(approximate=False),
}

#: Names of the activations neural-tangents computes in closed form (no quadrature).
NT_NATIVE_ACTIVATIONS = tuple(_NATIVE_LAYERS)


def _import_neural_tangents():
    """Import JAX and neural-tangents (lazily: ``import ntkgd`` stays cheap).

    Returns
    -------
    jax, jax.numpy, neural_tangents.stax
    """
    # neural-tangents 0.6.5 imports its TensorFlow bridge `neural_tangents.experimental`
    # from its top-level __init__. TensorFlow is deliberately kept out of the
    # environment (docs/design.md §4) and ntkgd never uses that bridge, so an empty
    # module stands in for it and the import succeeds without TensorFlow.
    sys.modules.setdefault("neural_tangents.experimental", types.ModuleType("neural_tangents.experimental"))
    with warnings.catch_warnings():
        # neural-tangents 0.6.5 imports names that JAX 0.5 deprecates (jax.core.Jaxpr, ...);
        # harmless for the kernel functions used here, and not the user's to fix.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"neural_tangents\.")
        import jax
        import jax.numpy as jnp
        from neural_tangents import stax
    return jax, jnp, stax


def _numpy_elementwise(np_fn, jax):
    """Make a numpy activation usable by ``ElementwiseNumerical``'s kernel function.

    The kernel function evaluates it eagerly on concrete arrays, which the
    numpy function handles. neural-tangents also traces the layer's
    ``apply_fn`` abstractly to infer output shapes; it keeps the input shape
    when ``apply_fn`` raises ``NotImplementedError``, which is right for an
    elementwise map. A numpy function cannot be traced, so it raises that.
    """

    def fn(x):
        if isinstance(x, jax.core.Tracer):
            raise NotImplementedError("a numpy activation cannot be traced; its shape is unchanged")
        return np_fn(np.asarray(x))

    return fn


def _jax_functions(name: str, jax, jnp):
    """``(sigma, sigma')`` in ``jax.numpy`` for built-ins without a native stax layer."""
    if name == "softplus":
        return jax.nn.softplus, jax.nn.sigmoid
    if name == "tanh":
        return jnp.tanh, lambda z: 1.0 - jnp.square(jnp.tanh(z))
    if name == "sigmoid":
        return jax.nn.sigmoid, lambda z: jax.nn.sigmoid(z) * jax.nn.sigmoid(-z)
    return None


def _activation_layer(act, jax, jnp, stax):
    """The stax layer for ``act`` and whether its kernel function can be jitted.

    Closed forms where stax has them (ReLU, erf, exact GELU); otherwise
    Gauss-Hermite quadrature with :data:`QUADRATURE_DEGREE` nodes per axis and
    the exact derivative (never autodiff, whose ``where`` pitfalls NT warns of).
    User functions are numpy functions here, evaluated eagerly (no jit).
    """
    if act.builtin and act.name in _NATIVE_LAYERS:
        return _NATIVE_LAYERS[act.name](stax), True
    functions = _jax_functions(act.name, jax, jnp) if act.builtin else None
    traceable = functions is not None
    if not traceable:
        functions = (_numpy_elementwise(act.fn, jax), _numpy_elementwise(act.derivative, jax))
    with warnings.catch_warnings():
        # ElementwiseNumerical always warns that its accuracy depends on deg;
        # QUADRATURE_DEGREE was chosen and validated for exactly that reason.
        warnings.filterwarnings("ignore", message="Numerical Activation Layer", category=UserWarning)
        layer = stax.ElementwiseNumerical(functions[0], deg=QUADRATURE_DEGREE, df=functions[1])
    return layer, traceable


def _network_pieces(arch: Architecture, d: int, jax, jnp, stax):
    """Kernel functions ``(pairs, output)`` of the translated network.

    ``pairs[h - 1]`` maps the kernel entering weight layer #h to the kernel
    after that layer (its activation, and for a ResNet its skip connection);
    ``output`` is the final Dense. Each maps a ``Kernel`` to a ``Kernel`` and is
    jitted when the activation allows it (the same compiled hidden piece serves
    every hidden layer).
    """
    if isinstance(arch, ResNet):
        return _resnet_pieces(arch, d, jax, jnp, stax)
    activation, traceable = _activation_layer(arch.act, jax, jnp, stax)
    compile_ = jax.jit if traceable else (lambda fn: fn)

    # The hidden width is irrelevant to the infinite-width kernels.
    first = compile_(stax.serial(_dense(stax, math.sqrt(d)), activation)[2])
    hidden = compile_(stax.serial(_dense(stax, math.sqrt(arch.scale)), activation)[2])
    output = compile_(_dense(stax, math.sqrt(arch.scale))[2])
    return [first] + [hidden] * (arch.depth - 1), output


def _dense(stax, w_std):
    """A bias-free Dense layer in NTK parameterisation (width irrelevant in the limit)."""
    return stax.Dense(1, W_std=w_std, b_std=None, parameterization="ntk")


def _assume_gaussian(stax):
    """A pass-through layer that marks its kernel as Gaussian.

    ``FanInSum`` refuses non-Gaussian inputs because it does not propagate
    means (a TODO in neural-tangents 0.6.5). The paper's residual branches are
    post-activation; for an odd activation their means vanish (b = 0 in
    docs/math.md §3), so summing the branch kernels, which is all ``FanInSum`` does,
    is exact. For any other activation it would drop the b_i mu_j terms, which
    is why :func:`nt_refusal` only lets odd activations through.
    """

    @stax.layer
    def AssumeGaussian():
        def init_fn(rng, input_shape):
            return input_shape, ()

        def apply_fn(params, inputs, **kwargs):
            return inputs

        def kernel_fn(k, **kwargs):
            return k.replace(is_gaussian=True)

        return init_fn, apply_fn, kernel_fn

    return AssumeGaussian()


def _scaled_odd_activation(name: str, scale: float, stax, jnp):
    """``scale * sigma`` as a stax layer, for the odd activations the ResNet translation allows."""
    if name == "erf":
        return stax.Erf(a=scale)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Numerical Activation Layer", category=UserWarning)
        return stax.ElementwiseNumerical(
            lambda z: scale * jnp.tanh(z), deg=QUADRATURE_DEGREE, df=lambda z: scale * (1.0 - jnp.square(jnp.tanh(z)))
        )


def _resnet_pieces(arch: ResNet, d: int, jax, jnp, stax):
    """The paper's ResNet in stax: ``z = sqrt(m) x`` (NTK parameterisation, docs/math.md §7).

    ``z^(1) = sqrt(c_s) sigma(Dense_{W_std = sqrt(d)}(x))`` and
    ``z^(h) = z^(h-1) + s_H sigma(Dense_{W_std = 1}(z^(h-1)))``; output Dense with W_std = 1.
    """
    name = arch.act.name
    mark = _assume_gaussian(stax)
    first = stax.serial(_dense(stax, math.sqrt(d)), _scaled_odd_activation(name, math.sqrt(arch.scale), stax, jnp), mark)
    branch = stax.serial(_dense(stax, 1.0), _scaled_odd_activation(name, arch.branch_scale, stax, jnp), mark)
    block = stax.serial(stax.FanOut(2), stax.parallel(stax.Identity(), branch), stax.FanInSum())
    pieces = [jax.jit(first[2])] + [jax.jit(block[2])] * (arch.depth - 1)
    return pieces, jax.jit(_dense(stax, 1.0)[2])


def nt_refusal(arch: Architecture) -> str | None:
    """Why neural-tangents cannot express ``arch`` exactly (the :class:`UnsupportedBackendError` message), or None."""
    if isinstance(arch, (FullyConnected, TwoLayer)):
        return None
    if isinstance(arch, ResNet) and arch.act.builtin and arch.act.name in _ODD_ACTIVATIONS:
        return None
    if isinstance(arch, ResNet):
        return (
            f"analytic_gram: backend='nt' cannot express the paper's ResNet with activation {arch.act.name!r}: "
            "its residual branches are post-activation, and neural-tangents 0.6.5 sums branches as if their "
            "means were zero, which holds only for odd activations (erf, tanh). For this activation it would "
            "drop the b_i mu_j terms (41% NTK error for ReLU, docs/math.md §7). Use backend='numba' (fast) or "
            "backend='reference' (slow oracle); backend='nt' works for ResNet(activation='erf')."
        )
    return (
        f"analytic_gram: backend='nt' cannot express {type(arch).__name__} exactly: neural-tangents "
        "0.6.5 only sums Gaussian (pre-activation) branches, and the paper's residual branches are "
        "post-activation (docs/math.md §7). Use backend='numba' (fast) or backend='reference' (slow oracle)."
    )


def stax_kernel_fn(arch: Architecture, d: int, *, quadrature_degree: int = QUADRATURE_DEGREE):
    """neural-tangents' jitted ``kernel_fn`` of the whole translated network.

    What a neural-tangents user would run to get the NTK and NNGP (no
    per-layer Grams); the baseline of the benchmarks. Call it, and the returned
    function, inside ``jax.experimental.enable_x64()`` for float64.

    Parameters
    ----------
    arch : TwoLayer or FullyConnected
    d : int
        Input dimension.
    quadrature_degree : int
        ``deg`` of ``ElementwiseNumerical`` for activations without a native layer.

    Returns
    -------
    callable
        ``kernel_fn(x1, x2, get)``.
    """
    jax, _, stax = _import_neural_tangents()
    activation = _NATIVE_LAYERS[arch.act.name](stax) if arch.act.name in _NATIVE_LAYERS else None
    if activation is None:
        functions = _jax_functions(arch.act.name, jax, jax.numpy)
        if functions is None:
            raise UnsupportedBackendError(f"stax_kernel_fn: no jax.numpy form of activation {arch.act.name!r}.")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Numerical Activation Layer", category=UserWarning)
            activation = stax.ElementwiseNumerical(functions[0], deg=quadrature_degree, df=functions[1])

    layers = [_dense(stax, math.sqrt(d)), activation]
    for _ in range(arch.depth - 1):
        layers += [_dense(stax, math.sqrt(arch.scale)), activation]
    layers.append(_dense(stax, math.sqrt(arch.scale)))
    return jax.jit(stax.serial(*layers)[2], static_argnames="get")


def _layer_grams(arch: Architecture, outputs: frozenset) -> set:
    """Which weight-group Grams ``G^(h)`` (h = 1..H) the requested outputs need."""
    depth = arch.depth
    grams = set(range(1, depth + 1)) if "layers" in outputs else set()
    if "paper" in outputs or ("ntk" in outputs and not arch.trains_output_layer):
        grams.add(depth)  # for TwoLayer (H = 1) G^(1) is both the paper's Gram and the NTK
    return grams


def _needed_sums(arch: Architecture, outputs: frozenset) -> frozenset:
    """Which partial sums ``S_h`` (h = 1..H) the requested outputs need."""
    grams = _layer_grams(arch, outputs)
    sums = grams | {h + 1 for h in grams if h < arch.depth}
    if "ntk" in outputs and arch.trains_output_layer:
        sums.add(1)  # the full NTK is S_1
    return frozenset(sums or {1})  # nngp alone: one pass through the network


def _block_sums(pieces, kernel, needed: frozenset, jnp) -> tuple[dict, object]:
    """The partial sums ``S_h`` for ``h`` in ``needed``, and the NNGP, for one block of rows.

    Parameters
    ----------
    pieces : tuple
        ``(pairs, output)`` from :func:`_network_pieces`.
    kernel : neural_tangents Kernel
        The kernel of the inputs (rows of the block against all inputs).
    needed : frozenset of int
        Which ``S_h`` to compute.

    Returns
    -------
    sums : dict
        ``{h: S_h}`` as (rows, n) arrays.
    nngp : array
        The output's NNGP kernel, (rows, n).
    """
    pairs, output = pieces

    def switch_off_earlier_layers(k):
        return k.replace(ntk=jnp.zeros_like(k.nngp))

    # The inputs' NTK is a scalar 0; a zero array gives every jitted call the same structure.
    kernel = switch_off_earlier_layers(kernel)
    sums, nngp = {}, None
    for h in range(1, max(needed) + 1):
        if h > 1:
            kernel = pairs[h - 2](kernel)  # now the kernel entering Dense #h
        if h in needed:
            k = switch_off_earlier_layers(kernel)
            for pair in pairs[h - 1 :]:
                k = pair(k)
            k = output(k)
            sums[h], nngp = k.ntk, k.nngp
    return sums, nngp


def _slots(arch: Architecture, outputs: frozenset) -> list[str]:
    """Names of the (n, n) matrices to allocate; every output is one of them or a tuple of them."""
    slots = [f"G{h}" for h in sorted(_layer_grams(arch, outputs))]
    if "nngp" in outputs or ("layers" in outputs and arch.trains_output_layer):
        slots.append("nngp")
    if "ntk" in outputs and arch.trains_output_layer:
        slots.append("ntk")
    return slots


def _block_values(arch: Architecture, sums: dict, nngp, slots: list[str]) -> list[np.ndarray]:
    """The slots' (rows, n) values from the partial sums of one block."""
    depth = arch.depth
    values = []
    for slot in slots:
        if slot == "nngp":
            value = nngp
        elif slot == "ntk":
            value = sums[1]
        else:
            h = int(slot[1:])
            value = sums[h] - (sums[h + 1] if h < depth else nngp)
        values.append(np.asarray(value, dtype=np.float64))
    return values


def _assemble(arch: Architecture, outputs: frozenset, slots: list[str], store: np.ndarray) -> dict:
    """The result dict of :func:`nt_grams` as views of the filled slots."""
    by_name = dict(zip(slots, store))
    depth = arch.depth
    result = {}
    if "layers" in outputs:
        names = [f"G{h}" for h in range(1, depth + 1)] + (["nngp"] if arch.trains_output_layer else [])
        result["layers"] = tuple(by_name[name] for name in names)
    if "paper" in outputs:
        result["paper"] = by_name[f"G{depth}"]
    if "ntk" in outputs:
        result["ntk"] = by_name["ntk" if arch.trains_output_layer else f"G{depth}"]
    if "nngp" in outputs:
        result["nngp"] = by_name["nngp"]
    return result


def _bytes_per_row(arch: Architecture, n: int, needed: frozenset) -> int:
    """Assumed peak bytes of neural-tangents' temporaries per row of a block."""
    arrays = _LAYER_TEMPORARIES + len(needed)
    if not (arch.act.builtin and arch.act.name in _NATIVE_LAYERS):
        arrays += _QUADRATURE_TEMPORARIES * QUADRATURE_DEGREE**2
    return 8 * n * arrays


def nt_grams(arch: Architecture, X: np.ndarray, X2: np.ndarray | None, outputs: frozenset,
             memory_limit: int | None) -> dict:  # fmt: skip
    """Gram matrices of ``arch`` on validated inputs ``X`` with neural-tangents' ``kernel_fn``.

    Same contract as :func:`ntkgd.analytic._numba_dense.numba_grams`; the translation
    and the prefix trick are described in the module docstring (docs/math.md §7).

    Parameters
    ----------
    arch : TwoLayer or FullyConnected
        The architecture spec.
    X : ndarray, shape (n, d)
        Validated float64 inputs.
    X2 : ndarray, shape (n2, d), or None
        The columns' inputs of a cross-Gram (``kernel_fn(X, X2)``); None: ``X``.
    outputs : frozenset of str
        The requested subset of ``("paper", "ntk", "layers", "nngp")``.
    memory_limit : int or None
        Bytes the computation may use; ``None`` means 90% of available memory.

    Returns
    -------
    dict
        The requested keys; float64 (n, n) arrays, (n, n2) with ``X2`` (``layers``: a tuple of them,
        first layer first, the output layer last for FullyConnected). Arrays may
        share memory (``paper`` is ``layers[H-1]``; for TwoLayer ``ntk`` is ``paper``).

    Raises
    ------
    UnsupportedBackendError
        For architectures neural-tangents cannot express exactly.
    GramTooLargeError
        If the outputs plus one block of neural-tangents' temporaries would not fit.
    """
    reason = nt_refusal(arch)
    if reason is not None:
        raise UnsupportedBackendError(reason)
    n, d = X.shape
    columns = X if X2 is None else X2
    n2 = columns.shape[0]
    needed = _needed_sums(arch, outputs)
    slots = _slots(arch, outputs)
    per_row = _bytes_per_row(arch, n2, needed)
    rows = int(min(n, max(1, _BLOCK_BYTES // per_row)))
    size = f"n = {n}" if X2 is None else f"n = {n} by n2 = {n2}"
    check_fits_in_memory(
        8 * n * n2 * len(slots) + rows * per_row,
        owner="analytic_gram",
        what=(
            f"backend='nt' for {size}: {len(slots)} output matrices of {format_bytes(8 * n * n2)} plus "
            f"neural-tangents' temporaries for blocks of {rows} rows"
        ),
        limit=memory_limit,
        suggestion="Use backend='numba' (far less memory), request fewer outputs, or subsample the data.",
    )
    jax, jnp, stax = _import_neural_tangents()
    from jax.experimental import enable_x64

    store = np.empty((len(slots), n, n2))
    with enable_x64():  # float64 for this computation only; the global JAX setting is left alone
        pieces = _network_pieces(arch, d, jax, jnp, stax)
        inputs = stax.Identity()[2]
        X_rows = jnp.asarray(X)
        X_columns = X_rows if X2 is None else jnp.asarray(X2)
        for start in range(0, n, rows):
            block = slice(start, min(start + rows, n))
            # With get=None, kernel_fn returns the Kernel object itself: here the inputs' own
            # kernel (nngp = x_i . x_j / d, NTK 0), the start of every prefix.
            kernel = inputs(X_rows[block], X_columns, get=None)
            with warnings.catch_warnings():
                # FanInSum warns that it assumes independent branches. The paper's skip and
                # residual branch are correlated only through b_i mu_j, which vanishes for the
                # odd activations nt_refusal admits (docs/math.md §3, §7).
                warnings.filterwarnings("ignore", message="`FanIn` layers assume independent", category=UserWarning)
                sums, nngp = _block_sums(pieces, kernel, needed, jnp)
            for target, value in zip(store, _block_values(arch, sums, nngp, slots)):
                target[block] = value
    return _assemble(arch, outputs, slots, store)
