"""The theorems' numbers as plain formulas: widths, step sizes and radii from (n, lambda_0, delta, ...).

Pure functions of scalars, one per theorem, each returning the rows of the
table :func:`ntkgd.theorem_quantities` reports (docs/math.md §6 states the
theorems, §6a derives the constants the proofs give). Every row says where its
constants come from:

- ``"proof"``: an explicit constant of the proof (ICLR Lemma 3.1: Hoeffding and
  a union bound; Lemma 3.2: anti-concentration and Markov; Theorem 4.1: R' < R
  with a Markov bound on ||y - u(0)||^2), derived in docs/math.md §6a;
- ``"O(1) := 1"`` (and ``2^{O(H)} := 2^H``, ``poly(p) := p``): the paper hides
  the constant, and the expression is evaluated with it set as stated;
- ``"exact"``: a definition, no constant involved.

Nothing here computes a Gram: :mod:`ntkgd.experiments._theory` does that and
calls these with the numbers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..core import finite_or_none

__all__ = [
    "LEMMA_32_C",
    "TheoremRow",
    "dominant",
    "fc_rows",
    "iclr_radius",
    "iclr_rows",
    "resnet_rows",
]

#: The constant c of ICLR Lemma 3.2's radius R = c delta lambda_0 / n^2 that its proof gives:
#: Markov on sum_ij |H_ij - H_ij(0)| <= 4 n^2 R / (sqrt(2 pi) delta) < lambda_0 / 4 (docs/math.md §6a).
LEMMA_32_C = math.sqrt(2.0 * math.pi) / 16.0

_ICLR = "Du, Zhai, Poczos, Singh (ICLR 2019)"
_ICML = "Du, Lee, Li, Wang, Zhai (ICML 2019)"


@dataclass(frozen=True)
class TheoremRow:
    """One quantity of one theorem.

    Attributes
    ----------
    theorem : str
        E.g. ``"ICLR Lemma 3.2"``, ``"Theorem 5.1 (FC)"``, or ``"data"`` for
        the quantities every theorem shares (lambda_0, ||y - u(0)||).
    quantity : str
        What the value is, e.g. ``"R"``, ``"m: term n^4/lambda_0^4"``.
    value : float
    formula : str
        The expression evaluated, with its constants.
    constants : str
        ``"proof"``, ``"O(1) := 1"`` (possibly with ``2^{O(H)} := 2^H`` or
        ``poly(p) := p``), ``"exact"`` or ``"measured"``.
    citation : str
        Where the statement (and the constant) comes from.
    """

    theorem: str
    quantity: str
    value: float
    formula: str
    constants: str
    citation: str

    def to_dict(self) -> dict:
        """JSON-ready (a non-finite value as None)."""
        record = asdict(self)
        record["value"] = finite_or_none(self.value)
        return record


def dominant(terms: dict[str, float]) -> str:
    """The name of the largest term of a width requirement's max (the first one on ties)."""
    return max(terms, key=lambda name: (terms[name], -list(terms).index(name)))


def _width_rows(theorem: str, terms: dict[str, tuple[float, str]], constants: str, citation: str) -> list[TheoremRow]:
    """Each term of ``m = max{...}`` as its own row, then the max and which term attains it."""
    rows = [TheoremRow(theorem, f"m: term {name}", value, formula, constants, citation)
            for name, (value, formula) in terms.items()]  # fmt: skip
    values = {name: value for name, (value, _) in terms.items()}
    top = dominant(values)
    rows.append(TheoremRow(theorem, "m (sufficient width)", values[top], f"max of the {len(terms)} terms; the largest "
                           f"is {top}", constants, citation))  # fmt: skip
    return rows


# --------------------------------------------------------------------------- ICLR 2019, two-layer ReLU


def iclr_rows(*, n: int, lambda_0: float, delta: float, residual_sq: float) -> list[TheoremRow]:
    """The two-layer ReLU theorems of the ICLR paper: Lemmas 3.1-3.3, Theorems 3.2 and 4.1.

    Parameters
    ----------
    n : int
        Number of training points.
    lambda_0 : float
        ``lambda_min(H^inf)``.
    delta : float
        Failure probability, in (0, 1).
    residual_sq : float
        ``S = E||y - u(0)||^2 = ||y||^2 + E||u(0)||^2`` (docs/math.md §6a).

    Returns
    -------
    list of TheoremRow
        Lemma 3.1's width ``8 n^2 log(n(n+1)/delta) / lambda_0^2``; Lemma 3.2's
        ``c`` and ``R = c delta lambda_0 / n^2`` with ``c = sqrt(2 pi)/16`` and
        the fraction of patterns that can flip within R; Theorem 4.1's width
        from ``R' < R`` (``delta`` split in three, constant 4) and as stated
        with ``O(1) := 1``; Theorem 3.2's (flow, constant 2); the step size
        ``lambda_0 / n^2``. R' itself depends on ``m`` and is added by the caller
        (:func:`iclr_radius`).
    """
    split = delta / 3.0
    log_term = math.log(n * (n + 1) / delta)
    m_31 = 8.0 * n**2 * log_term / lambda_0**2
    radius = LEMMA_32_C * delta * lambda_0 / n**2
    rows = [
        TheoremRow("ICLR Lemma 3.1", "m (||H(0) - H^inf||_2 <= lambda_0/4)", m_31,
                   "8 n^2 log(n(n+1)/delta) / lambda_0^2 (Hoeffding per entry, union bound over n(n+1)/2 entries, "
                   "||.||_2 <= ||.||_F)", "proof", f"{_ICLR}, Lemma 3.1 and its proof; docs/math.md §6a"),
        TheoremRow("ICLR Lemma 3.2", "c", LEMMA_32_C, "sqrt(2 pi) / 16 (Markov on sum_ij |H_ij - H_ij(0)|)", "proof",
                   f"{_ICLR}, proof of Lemma 3.2; docs/math.md §6a"),
        TheoremRow("ICLR Lemma 3.2", "R", radius, "c delta lambda_0 / n^2", "proof",
                   f"{_ICLR}, Lemma 3.2; docs/math.md §6a"),
        TheoremRow("ICLR Lemma 3.2", "flippable pattern fraction bound", 2.0 * radius / math.sqrt(2.0 * math.pi),
                   "P(|w_r(0) . x_i| < R) <= 2R / sqrt(2 pi) = delta lambda_0 / (8 n^2)", "proof",
                   f"{_ICLR}, proof of Lemma 3.2 (events A_ir)"),
    ]  # fmt: skip
    for theorem, constant, name in (("ICLR Theorem 4.1", 4.0, "GD"), ("ICLR Theorem 3.2", 2.0, "gradient flow")):
        # R' = C sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0) < R with ||y - u(0)||^2 <= S / (delta/3) (Markov) and
        # R at delta/3: m > C^2 n^5 S / (c^2 (delta/3)^3 lambda_0^4).
        m_radius = constant**2 * n**5 * residual_sq / (LEMMA_32_C**2 * split**3 * lambda_0**4)
        m_31_split = 8.0 * n**2 * math.log(n * (n + 1) / split) / lambda_0**2
        rows += _width_rows(theorem, {
            "R' < R": (m_radius, f"{constant:g}^2 n^5 S / (c^2 (delta/3)^3 lambda_0^4), S = E||y - u(0)||^2, "
                       f"R' with constant {constant:g} ({name})"),
            "Lemma 3.1": (m_31_split, "8 n^2 log(n(n+1)/(delta/3)) / lambda_0^2"),
        }, "proof", f"{_ICLR}, Theorem {theorem.split()[-1]} and its proof (delta split over 3 events); "
           "docs/math.md §6a")  # fmt: skip
        rows.append(TheoremRow(theorem, "m as stated", n**6 / (lambda_0**4 * delta**3),
                               "n^6 / (lambda_0^4 delta^3)", "O(1) := 1", f"{_ICLR}, Theorem {theorem.split()[-1]}"))
        if name == "GD":
            rows.append(TheoremRow(theorem, "eta (step size)", lambda_0 / n**2, "lambda_0 / n^2", "O(1) := 1",
                                   f"{_ICLR}, Theorem 4.1"))  # fmt: skip
    return rows


def iclr_radius(*, n: int, lambda_0: float, residual: float, width: float, label: str,
                constants: str) -> list[TheoremRow]:  # fmt: skip
    """Lemma 3.3's ``R' = 2 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0)`` (flow) and its discrete form (constant 4).

    ``residual`` is the ``||y - u(0)||`` used (say which in ``label``), ``width`` the ``m``.
    """
    base = math.sqrt(n) * residual / (math.sqrt(width) * lambda_0)
    cite = f"{_ICLR}, Lemma 3.3 (flow) and Corollary 4.1 (GD)"
    return [
        TheoremRow("ICLR Lemma 3.3", f"R' (flow), {label}", 2.0 * base,
                   "2 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0)", constants, cite),
        TheoremRow("ICLR Lemma 3.3", f"R' (GD), {label}", 4.0 * base,
                   "4 sqrt(n) ||y - u(0)|| / (sqrt(m) lambda_0)", constants, cite),
    ]  # fmt: skip


# --------------------------------------------------------------------------- ICML 2019, deep nets


def fc_rows(*, n: int, lambda_0: float, delta: float, depth: int) -> list[TheoremRow]:
    """Theorem 5.1 (fully connected): the three terms of the width, their max, and the step size.

    ``m = 2^{O(H)} max{n^4/lambda_0^4, n/delta, n^2 log(Hn/delta)/lambda_0^2}`` and
    ``eta = lambda_0 / (n^2 2^{O(H)})``, evaluated with ``O(1) := 1`` and
    ``2^{O(H)} := 2^H`` (docs/math.md §6).
    """
    grow = 2.0**depth
    theorem, constants = "Theorem 5.1 (FC)", "O(1) := 1, 2^{O(H)} := 2^H"
    cite = f"{_ICML}, Theorem 5.1; docs/math.md §6"
    rows = _width_rows(theorem, {
        "n^4/lambda_0^4": (grow * n**4 / lambda_0**4, "2^H n^4 / lambda_0^4"),
        "n/delta": (grow * n / delta, "2^H n / delta"),
        "n^2 log(Hn/delta)/lambda_0^2": (grow * n**2 * math.log(depth * n / delta) / lambda_0**2,
                                         "2^H n^2 log(H n / delta) / lambda_0^2"),
    }, constants, cite)  # fmt: skip
    rows.append(TheoremRow(theorem, "eta (step size)", lambda_0 / (n**2 * grow), "lambda_0 / (n^2 2^H)", constants, cite))
    return rows


def resnet_rows(*, n: int, lambda_0: float, delta: float, depth: int, pixels: int | None = None) -> list[TheoremRow]:
    """Theorem 6.1 (ResNet), or with ``pixels`` Theorem 7.1 (conv ResNet, every term times ``poly(p) := p``).

    ``m = max{n^4/(lambda_0^4 H^6), n^2/(lambda_0^2 H^2), n/delta, n^2 log(Hn/delta)/lambda_0^2}``
    and ``eta = lambda_0 H^2 / n^2`` (divided by ``poly(p)`` for the conv net),
    with ``O(1) := 1`` (docs/math.md §6).
    """
    H = depth
    if pixels is None:
        theorem, factor, tag, constants = "Theorem 6.1 (ResNet)", 1.0, "", "O(1) := 1"
        cite = f"{_ICML}, Theorem 6.1; docs/math.md §6"
    else:
        theorem, factor, tag, constants = "Theorem 7.1 (conv ResNet)", float(pixels), "p ", "O(1) := 1, poly(p) := p"
        cite = f"{_ICML}, Theorem 7.1; docs/math.md §6 (the width: the Theorem 6.1 terms times poly(p))"
    rows = _width_rows(theorem, {
        "n^4/(lambda_0^4 H^6)": (factor * n**4 / (lambda_0**4 * H**6), f"{tag}n^4 / (lambda_0^4 H^6)"),
        "n^2/(lambda_0^2 H^2)": (factor * n**2 / (lambda_0**2 * H**2), f"{tag}n^2 / (lambda_0^2 H^2)"),
        "n/delta": (factor * n / delta, f"{tag}n / delta"),
        "n^2 log(Hn/delta)/lambda_0^2": (factor * n**2 * math.log(H * n / delta) / lambda_0**2,
                                         f"{tag}n^2 log(H n / delta) / lambda_0^2"),
    }, constants, cite)  # fmt: skip
    rows.append(TheoremRow(theorem, "eta (step size)", lambda_0 * H**2 / (n**2 * factor),
                           f"lambda_0 H^2 / ({tag}n^2)".replace("(n^2)", "n^2"), constants, cite))  # fmt: skip
    return rows
