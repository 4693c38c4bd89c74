"""A NAB-style scorer (Lavin & Ahmad 2015, "Evaluating real-time anomaly detection algorithms —
the Numenta Anomaly Benchmark"), re-implemented from the paper's rules.

Per series: anomaly windows of total length 10% of the series, split evenly between its
anomalies and centred on each label; the first 15% (at most 750 points) is probationary and not
scored. With a threshold, the earliest detection inside a window earns ``A_TP · σ(position)``
(``σ`` the scaled sigmoid: ~1 at the window's left edge, 0 at its right edge), a window without
detection costs ``A_FN``, and every detection outside windows costs ``A_FP · σ`` (less right
after a window). One threshold is chosen for the whole corpus to maximise the total; the
result is normalised so that detecting nothing scores 0 and perfect detection 100.
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


def _scaled_sigmoid(pos: np.ndarray) -> np.ndarray:
    out = 2.0 / (1.0 + np.exp(5.0 * pos)) - 1.0
    return np.where(pos >= 3.0, -1.0, out)


def windows(n: int, anomalies: Sequence[int]) -> list[tuple[int, int]]:
    """Window [left, right] index pairs, 10% of ``n`` in total, centred on each anomaly."""
    if not anomalies:
        return []
    width = int(0.1 * n / len(anomalies))
    out = []
    for at in anomalies:
        left = max(0, at - width // 2)
        right = min(n - 1, at + width // 2)
        out.append((left, right))
    # merge overlaps, as NAB's labeller does
    merged: list[tuple[int, int]] = []
    for w in sorted(out):
        if merged and w[0] <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], w[1]))
        else:
            merged.append(w)
    return merged


def _weights(n: int, wins: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Per point: window id (-1 outside) and the sigmoid weight NAB gives a detection there."""
    win_id = np.full(n, -1)
    pos = np.full(n, 3.0)
    idx = np.arange(n)
    prev_right, prev_width = None, None
    for j, (left, right) in enumerate(wins):
        width = right - left + 1
        win_id[left : right + 1] = j
        pos[left : right + 1] = -(right - idx[left : right + 1] + 1) / width
        prev_right, prev_width = right, width
        nxt = wins[j + 1][0] if j + 1 < len(wins) else n
        after = idx[right + 1 : nxt]
        pos[right + 1 : nxt] = np.abs(after - prev_right) / max(prev_width - 1, 1)
    return win_id, _scaled_sigmoid(pos)


def nab_score(
    results: Sequence[tuple[np.ndarray, Sequence[int]]],
    profile: str = "standard",
    thresholds: np.ndarray | None = None,
) -> tuple[float, float]:
    """Normalised NAB score (0–100) and the best threshold, over ``(scores, anomalies)`` pairs."""
    cost = PROFILES[profile]
    max_tp = 2.0 / (1.0 + math.exp(-5.0)) - 1.0
    prepared = []
    n_windows = 0
    all_scores = []
    for scores, anomalies in results:
        n = len(scores)
        wins = windows(n, anomalies)
        n_windows += len(wins)
        win_id, sig = _weights(n, wins)
        probation = min(int(0.15 * n), 750)
        keep = np.arange(n) >= probation
        prepared.append((np.asarray(scores)[keep], win_id[keep], sig[keep], len(wins)))
        all_scores.append(np.asarray(scores)[keep])
    if thresholds is None:
        pool = np.concatenate(all_scores)
        qs = np.concatenate([np.linspace(0.5, 0.99, 50), 1.0 - np.logspace(-2, -6, 120)])
        thresholds = np.unique(np.quantile(pool, qs))
        thresholds = thresholds[thresholds > 0]
    best, best_thr = -math.inf, math.nan
    for thr in thresholds:
        total = 0.0
        for scores, win_id, sig, nw in prepared:
            hit = scores >= thr
            fp = hit & (win_id < 0)
            total += cost["fp"] * float(sig[fp].sum())
            for j in range(nw):
                in_win = hit & (win_id == j)
                if in_win.any():
                    total += cost["tp"] * float(sig[in_win].max()) / max_tp
                else:
                    total -= cost["fn"]
        if total > best:
            best, best_thr = total, float(thr)
    null = -cost["fn"] * n_windows
    perfect = cost["tp"] * n_windows
    return 100.0 * (best - null) / (perfect - null), best_thr
