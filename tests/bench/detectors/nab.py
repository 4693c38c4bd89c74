"""NAB's windowed scoring (Lavin & Ahmad 2015, "Evaluating real-time anomaly detection
algorithms — the Numenta Anomaly Benchmark"), re-implemented to match NAB 1.x's sweeper
(``nab/sweeper.py``, ``nab/runner.py``, ``config/profiles.json`` of numenta/NAB):

* the first ``min(floor(0.15 n), 750)`` rows of each series are probationary and not scored; a
  window with no row after them counts neither as a hit nor as a miss;
* a window's earliest detection earns ``A_TP · σ(p) / σ(-1)`` with ``p = -(right - i + 1) /
  width`` (1.0 at its left edge, ~0 at its right edge); a window without detection costs
  ``A_FN``; later detections in the same window count nothing;
* a detection outside windows costs ``A_FP · σ(p)``: ``σ = -1`` before the first window,
  ``p = |i - right| / (width - 1)`` of the last window that ended (less right after a window);
* one threshold for the whole corpus: every distinct score is tried (a detection is
  ``score >= threshold``) and the best total kept;
* normalised as NAB's runner does: ``100 · (S - S_null) / (S_perfect - S_null)`` with
  ``S_perfect = A_TP · windows`` and ``S_null = -A_FN · scorable windows`` (the null detector's
  best total, detecting nothing).

Windows come either from NAB's labels (index pairs, :mod:`tests.bench.detectors.nab_data`) or
from anomaly onsets, built as NAB's labeller does: 10 % of the series in total, split evenly
between its anomalies, centred on each, overlaps merged (:func:`windows`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

PROFILES = {
    "standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0},
    "reward_low_fp": {"tp": 1.0, "fp": 0.22, "fn": 1.0},
    "reward_low_fn": {"tp": 1.0, "fp": 0.11, "fn": 2.0},
}
_MAX_TP = 2.0 / (1.0 + math.exp(-5.0)) - 1.0  # σ(-1): a detection at a window's left edge

Window = tuple[int, int]


def _scaled_sigmoid(pos: np.ndarray) -> np.ndarray:
    out = 2.0 / (1.0 + np.exp(5.0 * pos)) - 1.0
    return np.where(pos >= 3.0, -1.0, out)


def probation(n: int) -> int:
    """Rows at the start of a series of ``n`` rows that NAB does not score."""
    return int(min(math.floor(0.15 * n), 0.15 * 5000))


def windows(n: int, anomalies: Sequence[int]) -> list[Window]:
    """Window [left, right] index pairs, 10% of ``n`` in total, centred on each anomaly."""
    if not anomalies:
        return []
    width = int(0.1 * n / len(anomalies))
    out = [(max(0, at - width // 2), min(n - 1, at + width // 2)) for at in anomalies]
    merged: list[Window] = []
    for w in sorted(out):  # merge overlaps, as NAB's labeller does
        if merged and w[0] <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], w[1]))
        else:
            merged.append(w)
    return merged


def _weights(n: int, wins: Sequence[Window]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: window id (-1 outside) and the sigmoid weight NAB gives a detection there."""
    win_id = np.full(n, -1)
    pos = np.full(n, 3.0)
    idx = np.arange(n)
    for j, (left, right) in enumerate(wins):
        width = right - left + 1
        win_id[left : right + 1] = j
        pos[left : right + 1] = -(right - idx[left : right + 1] + 1) / width
        nxt = wins[j + 1][0] if j + 1 < len(wins) else n
        pos[right + 1 : nxt] = np.abs(idx[right + 1 : nxt] - right) / max(width - 1, 1)
    return win_id, _scaled_sigmoid(pos)


class Prepared:
    """Scorable rows of a corpus: score, global window id (-1 outside), NAB's row weight."""

    def __init__(self, results: Sequence[tuple[np.ndarray, Sequence[Window]]]) -> None:
        scores, wins, sigs = [], [], []
        self.n_windows = 0
        offset = 0
        for values, series_windows in results:
            n = len(values)
            win_id, sig = _weights(n, series_windows)
            keep = slice(probation(n), n)
            scores.append(np.asarray(values, dtype=float)[keep])
            wins.append(np.where(win_id[keep] >= 0, win_id[keep] + offset, -1))
            sigs.append(sig[keep])
            offset += len(series_windows)
        self.n_windows = offset
        self.scores = np.concatenate(scores) if scores else np.zeros(0)
        self.win = np.concatenate(wins) if wins else np.zeros(0, dtype=int)
        self.sig = np.concatenate(sigs) if sigs else np.zeros(0)
        self.scorable = np.unique(self.win[self.win >= 0])

    def total(self, thr: float, cost: dict[str, float]) -> float:
        """Raw NAB total at one threshold."""
        hit = self.scores >= thr
        fp = hit & (self.win < 0)
        best = np.full(self.n_windows, -cost["fn"])
        tp = hit & (self.win >= 0)
        np.maximum.at(best, self.win[tp], cost["tp"] * self.sig[tp] / _MAX_TP)
        return float(cost["fp"] * self.sig[fp].sum() + best[self.scorable].sum())

    def sweep(self, cost: dict[str, float]) -> tuple[float, float]:
        """Best raw total over every distinct score (as NAB's sweeper), and its threshold."""
        order = np.argsort(-self.scores, kind="stable")
        s, win, sig = self.scores[order], self.win[order], self.sig[order]
        gain = np.where(win < 0, cost["fp"] * sig, 0.0)
        inside = np.flatnonzero(win >= 0)
        if len(inside):  # a window's value rises to its best detection so far
            reward = cost["tp"] * sig[inside] / _MAX_TP
            ids = win[inside]
            for j in np.unique(ids):
                rows = inside[ids == j]
                running = np.maximum.accumulate(np.concatenate([[-cost["fn"]], reward[ids == j]]))
                gain[rows] = np.diff(running)
        base = -cost["fn"] * len(self.scorable)
        totals = base + np.cumsum(gain)
        last = np.flatnonzero(np.append(s[1:] != s[:-1], True))  # end of each tie group
        if not len(last):
            return base, math.inf
        k = int(np.argmax(totals[last]))
        if totals[last][k] <= base:
            return base, math.inf
        return float(totals[last][k]), float(s[last[k]])


def normalise(raw: float, prepared: Prepared, cost: dict[str, float]) -> float:
    """NAB's normalised score: the null detector 0, the perfect one 100."""
    null = -cost["fn"] * len(prepared.scorable)
    perfect = cost["tp"] * prepared.n_windows
    return 100.0 * (raw - null) / (perfect - null) if perfect > null else math.nan


def nab_score_windows(
    results: Sequence[tuple[np.ndarray, Sequence[Window]]],
    profile: str = "standard",
    thresholds: np.ndarray | None = None,
) -> tuple[float, float]:
    """Normalised NAB score and threshold over ``(scores, windows)`` pairs: the best over
    every distinct score, or over ``thresholds`` when given."""
    cost = PROFILES[profile]
    prepared = Prepared(results)
    if thresholds is None:
        raw, thr = prepared.sweep(cost)
    else:
        totals = [prepared.total(float(t), cost) for t in thresholds]
        k = int(np.argmax(totals))
        raw, thr = totals[k], float(thresholds[k])
    return normalise(raw, prepared, cost), thr


def nab_score(
    results: Sequence[tuple[np.ndarray, Sequence[int]]],
    profile: str = "standard",
    thresholds: np.ndarray | None = None,
) -> tuple[float, float]:
    """Normalised NAB score (0–100) and threshold over ``(scores, anomaly onsets)`` pairs."""
    pairs = [(np.asarray(sc), windows(len(sc), anomalies)) for sc, anomalies in results]
    return nab_score_windows(pairs, profile, thresholds)
