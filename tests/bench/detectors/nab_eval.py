"""NAB-style evaluation of the default scorer against reference scorers on a synthetic corpus.

Run: ``python -m tests.bench.detectors.nab_eval [--seed 2] [--size 60]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from detectors import EWZScoreScorer, default_scorer
from tests.bench.detectors.corpus import Series, make_corpus
from tests.bench.detectors.nab import PROFILES, nab_score


def run_scorer(factory: Callable[[Series], Any], series: Series) -> np.ndarray:
    """Score every point (score, then learn) and return the scores."""
    det = factory(series)
    out = np.empty(len(series.values))
    for i, (t, x) in enumerate(zip(series.ts.tolist(), series.values.tolist(), strict=True)):
        out[i] = det.score_one(x, t)
        det.learn_one(x, t)
    return out


def evaluate(factory: Callable[[Series], Any], corpus: list[Series]) -> dict[str, float]:
    """NAB score per profile, plus per-kind detection count at the standard threshold."""
    results = [(run_scorer(factory, s), s.anomalies) for s in corpus]
    return {p: nab_score(results, p)[0] for p in PROFILES}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--size", type=int, default=60)
    args = parser.parse_args()
    corpus = make_corpus(args.seed, args.size)
    n_points = sum(len(s.values) for s in corpus)
    n_anom = sum(len(s.anomalies) for s in corpus)
    print(f"corpus seed={args.seed}: {len(corpus)} series, {n_points} points, {n_anom} anomalies")
    scorers: dict[str, Callable[[Series], Any]] = {
        "default_scorer": lambda s: default_scorer(),
        "EW z-score (half-life 100 spacings)": lambda s: EWZScoreScorer(
            half_life=100 * float(np.median(np.diff(s.ts)))
        ),
    }
    print(f"{'scorer':40s} " + " ".join(f"{p:>14s}" for p in PROFILES) + "   s")
    for name, factory in scorers.items():
        t0 = time.perf_counter()
        res = evaluate(factory, corpus)
        dt = time.perf_counter() - t0
        print(f"{name:40s} " + " ".join(f"{res[p]:14.1f}" for p in PROFILES) + f" {dt:5.1f}")


if __name__ == "__main__":
    main()
