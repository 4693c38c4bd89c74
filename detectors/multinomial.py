"""Anytime-valid test that the canary's categories (rejection causes) are not the baseline's.

Null hypothesis: in every period, a canary event and a baseline event draw their category
from the same distribution, whatever that distribution is and however it moves (a volatile
market makes requotes common on both paths at once). Each period is judged on its own: given
the period's pooled counts per category and how many of them are the canary's, the canary's
counts are multivariate hypergeometric under the null, free of the unknown distribution and
of the two paths' rates (their reject rates may differ). The alternative is Fisher's
noncentral multivariate hypergeometric with per-category odds ``w`` estimated from earlier
periods only (a predictable plug-in), so each period's likelihood ratio has expectation 1
under the null given the past, and their product is a test martingale: rejecting when it
reaches ``1/alpha`` keeps the false-alarm rate under ``alpha`` however often it is looked at
(Ville's inequality). Periods where only one side has events carry no evidence (ratio 1).

Rules reach it with ``threshold: {kind: vs_baseline, method: cause_shift}``
(``monitor.core.thresholds.cause_shift``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any, Self, TypeVar

import numpy as np
from scipy.special import gammaln

from detectors._common import check_positive, check_state, check_unit, header
from detectors.result import Comparison

K = TypeVar("K", str, int)  # categories: cause names or latency groups, sorted for determinism

_MAX_LOG_E: float = 700.0
"""The log e-value is held below this (exp overflows past ~709)."""


def _expits(zs: list[float]) -> list[float]:
    """``1 / (1 + e^-z)`` of each ``z``, without overflow. A list at a time: one call for
    all of a step's categories (the Newton loop below runs it up to 8 times a step)."""
    exp = math.exp
    return [1.0 / (1.0 + exp(-z)) if z >= 0 else exp(z) / (1.0 + exp(z)) for z in zs]


def _log1pexps(zs: list[float]) -> list[float]:
    """``log(1 + e^z)`` of each ``z``, without overflow (a list at a time, as ``_expits``)."""
    exp, log1p = math.exp, math.log1p
    return [z + log1p(exp(-z)) if z > 0 else log1p(exp(z)) for z in zs]


_SMALL: int = 256
"""Up to this many events the pmf is built event by event in plain Python (a few hundred
float operations: ~20x faster than numpy calls at one step's handful of orders)."""


def _sum_of_binomials_pmf(counts: list[float], p: list[float], k: int) -> float:
    """``P(S = k)`` for ``S`` the sum of independent ``Bin(counts[i], p[i])``.

    Up to ``_SMALL`` events: the pmf of the events so far, one event (Bernoulli) at a time,
    ``pmf[i] <- pmf[i] (1 - q) + pmf[i - 1] q``, kept only on the band of ``i`` that can
    still reach ``k``: no higher than the events so far (above, it is 0 and stays 0), no
    lower than ``k`` minus the events still to come (below, it never reaches ``pmf[k]``).
    Each value on the band is the same float operations as the whole table's, so the result
    is bit for bit the same (``tests/unit/detectors/test_multinomial.py``); 25 % faster at
    one step of the example plan's slowdown rule (~60 orders in 20 groups, k ~20).
    """
    total = int(sum(counts))
    if total <= _SMALL:
        pmf = [1.0] + [0.0] * k
        left = total  # events still to come
        for n_c, q in zip(counts, p, strict=True):
            r = 1.0 - q
            for _ in range(int(n_c)):
                left -= 1
                lo = k - left  # lowest index that can still reach k
                hi = min(k, total - left)
                if lo < 1:
                    prev = pmf[0]
                    pmf[0] = prev * r
                    lo = 1
                else:
                    prev = pmf[lo - 1]
                for i in range(lo, hi + 1):  # upwards, carrying the old pmf[i - 1]
                    cur = pmf[i]
                    pmf[i] = cur * r + prev * q
                    prev = cur
        return pmf[k]
    # Each group's binomial pmf exp(log C(n, j) + j log q + (n - j) log(1 - q)), all groups'
    # terms side by side in one array (the same elementwise operations as group by group,
    # in ~10 numpy calls instead of ~8 per group), then convolved group by group.
    terms = [_binomial_terms(n_c) for n_c in counts]
    sizes = [len(t[0]) for t in terms]
    probs = np.array(p, dtype=np.float64)
    with np.errstate(divide="ignore"):  # q of 0 or 1: log 0 = -inf, exp(-inf) = 0
        log_q = np.repeat(np.log(probs), sizes)
        log_r = np.repeat(np.log1p(-probs), sizes)
        j, log_c, rest = (np.concatenate([t[i] for t in terms]) for i in range(3))
        pmfs = np.exp(log_c + j * log_q + rest * log_r)
    acc = np.ones(1)
    start = 0
    for size in sizes:
        acc = np.convolve(acc, pmfs[start : start + size])
        start += size
    return float(acc[k])


@functools.lru_cache(maxsize=1024)
def _binomial_terms(n: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``j = 0..n``, ``log C(n, j)`` and ``n - j`` (read-only): one group's binomial pmf
    but for its probability. Cached, as a group's count recurs from step to step: the
    same arrays as computed anew, without three scipy and four numpy calls a group."""
    j = np.arange(int(n) + 1, dtype=np.float64)
    log_c = gammaln(n + 1.0) - gammaln(j + 1.0) - gammaln(n - j + 1.0)
    rest = n - j
    for array in (j, log_c, rest):
        array.flags.writeable = False
    return j, log_c, rest


@functools.lru_cache(maxsize=4096)
def _log_choose(n: float, k: float) -> float:
    # cached: a step's (pooled, canary) counts repeat, and three scipy calls on scalars
    # cost more than the rest of a small step's ratio
    return float(gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0))


def fisher_log_lr(x: Mapping[K, float], m: Mapping[K, float], w: Mapping[K, float]) -> float:
    """Log-likelihood ratio of the canary's counts ``x`` within the pooled counts ``m``:
    Fisher's noncentral hypergeometric with odds ``w`` against the central one.

    ``log LR = Σ x_c log w_c + log C(R, k) − log [t^k] Π_c (1 + w_c t)^(m_c)`` with ``R``
    pooled and ``k`` canary events. The coefficient is ``P(S = k) Π (1 + λ w_c)^(m_c) / λ^k``
    for ``S`` a sum of binomials ``Bin(m_c, λ w_c / (1 + λ w_c))``, with ``λ`` chosen so that
    ``E[S] = k`` (no underflow where it is read).

    Examples
    --------
    >>> fisher_log_lr({"a": 1}, {"a": 3}, {"a": 2.0})  # one category: nothing to learn
    0.0
    >>> r = fisher_log_lr({"a": 2, "b": 0}, {"a": 2, "b": 6}, {"a": 4.0, "b": 1.0})
    >>> round(math.exp(r), 3)  # both canary events fell where the odds said they would
    5.671
    """
    cats = sorted(c for c in m if m[c] > 0)
    k = math.fsum(x.get(c, 0.0) for c in cats)
    total = math.fsum(m[c] for c in cats)
    if len(cats) < 2 or k <= 0 or k >= total:
        return 0.0
    counts = [float(m[c]) for c in cats]
    log_w = [math.log(w.get(c, 1.0)) for c in cats]
    # log λ by Newton's method on E[S] = k: any λ gives the exact coefficient, one near the
    # solution only keeps the binomials' mass (and the float pmf) around S = k
    log_lam = (
        math.log(k / (total - k)) - sum(n * lw for n, lw in zip(counts, log_w, strict=True)) / total
    )
    # sums of lists, not of generators: the same additions in the same order, fewer calls
    for _ in range(8):
        p = _expits([log_lam + lw for lw in log_w])
        gap = sum([n * q for n, q in zip(counts, p, strict=True)]) - k
        slope = sum([n * q * (1.0 - q) for n, q in zip(counts, p, strict=True)])
        if slope <= 0.0 or abs(gap) < 1e-9:
            break  # log λ unchanged: p is already its probabilities
        log_lam = min(50.0, max(-50.0, log_lam - gap / slope))
    else:
        p = _expits([log_lam + lw for lw in log_w])
    pk = _sum_of_binomials_pmf(counts, p, int(k))
    log_coef = (
        math.log(max(pk, 1e-300))
        + sum(
            [n * y for n, y in zip(counts, _log1pexps([log_lam + lw for lw in log_w]), strict=True)]
        )
        - k * log_lam
    )
    seen = sum(x.get(c, 0.0) * lw for c, lw in zip(cats, log_w, strict=True))
    return seen + _log_choose(total, k) - log_coef


class SequentialMultinomialTest:
    """E-process that the canary's category mix differs from the baseline's (module doc).

    Feed it once per period with each side's counts per category (``update``). ``prior``
    shrinks the plug-in odds towards 1 (``w_c = (X_c + prior) / (ρ Y_c + prior)``, ``X``
    and ``Y`` the canary's and baseline's counts of earlier periods, ``ρ`` their ratio of
    totals): a category seen on one side only in a period or two does not yet carry weight.
    The odds remember about the canary's last ``memory`` events (both sides' counts are
    scaled down together past it), so a shift after an hour of healthy flow is learned as
    fast as one at the start; any odds computed from the past keep the test valid.
    ``alpha`` is the level ``result`` and ``rejected`` judge at.

    Examples
    --------
    Same mix on both sides: no evidence. A canary whose rejects move to one cause: evidence.

    >>> t = SequentialMultinomialTest(alpha=0.001)
    >>> for _ in range(40):
    ...     _ = t.update({"margin": 1, "price": 1}, {"margin": 4, "price": 4})
    >>> t.e_value < 10
    True
    >>> for _ in range(40):
    ...     _ = t.update({"margin": 0, "price": 2}, {"margin": 4, "price": 4})
    >>> t.rejected, t.result().direction
    (True, 'higher')
    """

    __slots__ = (
        "_wx",
        "_wy",
        "_x",
        "_y",
        "alpha",
        "log_e",
        "max_log_e",
        "memory",
        "periods",
        "prior",
    )

    def __init__(self, prior: float = 1.0, alpha: float = 0.05, memory: float = 30.0) -> None:
        check_positive("prior", prior)
        check_unit("alpha", alpha)
        check_positive("memory", memory)
        self.prior = prior
        self.alpha = alpha
        self.memory = memory
        self._x: dict[str, float] = {}  # totals since the start (the result's effect)
        self._y: dict[str, float] = {}
        self._wx: dict[str, float] = {}  # the odds' recent counts
        self._wy: dict[str, float] = {}
        self.log_e = 0.0
        self.max_log_e = 0.0
        self.periods = 0

    @property
    def ready(self) -> bool:
        return True  # every period is its own evidence; no warm-up

    @property
    def e_value(self) -> float:
        return math.exp(self.log_e)

    @property
    def rejected(self) -> bool:
        """Whether the evidence has ever reached ``1/alpha`` (it then stands)."""
        return self.max_log_e >= -math.log(self.alpha)

    def odds(self) -> dict[str, float]:
        """The plug-in odds per category from the periods seen so far."""
        x_n, y_n = math.fsum(self._wx.values()), math.fsum(self._wy.values())
        rho = (x_n + 1.0) / (y_n + 1.0)
        cats = sorted(self._wx.keys() | self._wy.keys())
        return {
            c: (self._wx.get(c, 0.0) + self.prior) / (rho * self._wy.get(c, 0.0) + self.prior)
            for c in cats
        }

    def update(self, canary: Mapping[str, float], baseline: Mapping[str, float]) -> float:
        """Add one period's counts; return its log-likelihood ratio. Non-finite or negative
        counts are refused with ``ValueError`` before anything changes."""
        for side in (canary, baseline):
            for c, v in side.items():
                if not math.isfinite(v) or v < 0:
                    raise ValueError(f"count of {c!r} must be a finite number >= 0, got {v!r}")
        pooled = {
            c: canary.get(c, 0.0) + baseline.get(c, 0.0)
            for c in sorted(canary.keys() | baseline.keys())
        }
        llr = fisher_log_lr(canary, pooled, self.odds())
        self.log_e = min(self.log_e + llr, _MAX_LOG_E)
        self.max_log_e = max(self.max_log_e, self.log_e)
        for side, totals, recent in ((canary, self._x, self._wx), (baseline, self._y, self._wy)):
            for c, v in side.items():
                if v:
                    totals[c] = totals.get(c, 0.0) + v
                    recent[c] = recent.get(c, 0.0) + v
        held = math.fsum(self._wx.values())
        if held > self.memory:
            scale = self.memory / held
            for recent in (self._wx, self._wy):
                for c in recent:
                    recent[c] *= scale
        self.periods += 1
        return llr

    def totals(self) -> tuple[dict[str, float], dict[str, float]]:
        """Each side's counts per category since the start (copies)."""
        return dict(self._x), dict(self._y)

    def reset(self) -> None:
        for counts in (self._x, self._y, self._wx, self._wy):
            counts.clear()
        self.log_e = self.max_log_e = 0.0
        self.periods = 0

    def result(self) -> Comparison:
        """``higher``: the mixes differ at ``alpha``; effect: their total variation distance."""
        x_n, y_n = math.fsum(self._x.values()), math.fsum(self._y.values())
        effect = None
        if x_n > 0 and y_n > 0:
            cats = sorted(self._x.keys() | self._y.keys())
            effect = 0.5 * math.fsum(
                abs(self._x.get(c, 0.0) / x_n - self._y.get(c, 0.0) / y_n) for c in cats
            )
        return Comparison(
            direction="higher" if self.rejected else "none",
            effect=effect,
            interval=None,
            p_value=min(1.0, math.exp(-self.max_log_e)),
            e_value=self.e_value,
            enough_data=x_n > 0 and y_n > 0,
            n_baseline=int(y_n),
            n_canary=int(x_n),
            method="sequential_multinomial",
            effect_kind="total_variation",
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            **header(self),
            "prior": self.prior,
            "alpha": self.alpha,
            "memory": self.memory,
            "canary": dict(sorted(self._x.items())),
            "baseline": dict(sorted(self._y.items())),
            "recent_canary": dict(sorted(self._wx.items())),
            "recent_baseline": dict(sorted(self._wy.items())),
            "log_e": self.log_e,
            "max_log_e": self.max_log_e,
            "periods": self.periods,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        check_state(cls, state)
        t = cls(float(state["prior"]), float(state["alpha"]), float(state["memory"]))
        t._x = {str(k): float(v) for k, v in state["canary"].items()}
        t._y = {str(k): float(v) for k, v in state["baseline"].items()}
        t._wx = {str(k): float(v) for k, v in state["recent_canary"].items()}
        t._wy = {str(k): float(v) for k, v in state["recent_baseline"].items()}
        t.log_e = float(state["log_e"])
        t.max_log_e = float(state["max_log_e"])
        t.periods = int(state["periods"])
        return t
