"""NAB-style evaluation of the default scorer against reference scorers on synthetic corpora.

Run: ``python -m tests.bench.detectors.nab_eval [--seeds 2 4 5] [--size 60] [--old REV]``

Corpus seeds 1 and 3 were used while developing the scorer; the default seeds (2, 4, 5) are
held out. One threshold per scorer and corpus, optimised as NAB does. ``--old REV`` (default
``ca75cb7``, before issue 19) adds the default scorer as it was at that git revision.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types
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


def old_scorer(rev: str) -> Callable[[Series], Any]:
    """The default scorer as it was at git revision ``rev``."""
    source = subprocess.run(
        ["git", "show", f"{rev}:detectors/scoring.py"], capture_output=True, text=True, check=True
    ).stdout
    module = types.ModuleType(f"scoring_at_{rev}")
    sys.modules[module.__name__] = module  # dataclass/typing look-ups need it registered
    # our own file at a named revision, run as a module of its own
    exec(compile(source, f"{rev}:detectors/scoring.py", "exec"), module.__dict__)
    return lambda s: module.default_scorer()


def evaluate(factory: Callable[[Series], Any], corpus: list[Series]) -> dict[str, float]:
    """NAB score per profile, plus per-kind detection count at the standard threshold."""
    results = [(run_scorer(factory, s), s.anomalies) for s in corpus]
    return {p: nab_score(results, p)[0] for p in PROFILES}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[2, 4, 5])
    parser.add_argument("--size", type=int, default=60)
    parser.add_argument("--old", default="ca75cb7", help="git revision of the old scorer, '' skips")
    args = parser.parse_args()
    scorers: dict[str, Callable[[Series], Any]] = {"default_scorer": lambda s: default_scorer()}
    if args.old:
        scorers[f"default_scorer@{args.old}"] = old_scorer(args.old)
    scorers["EW z-score (half-life 100 spacings)"] = lambda s: EWZScoreScorer(
        half_life=100 * float(np.median(np.diff(s.ts)))
    )
    totals: dict[str, list[dict[str, float]]] = {name: [] for name in scorers}
    for seed in args.seeds:
        corpus = make_corpus(seed, args.size)
        n_points = sum(len(s.values) for s in corpus)
        n_anom = sum(len(s.anomalies) for s in corpus)
        print(f"corpus seed={seed}: {len(corpus)} series, {n_points} points, {n_anom} anomalies")
        print(f"  {'scorer':38s} " + " ".join(f"{p:>14s}" for p in PROFILES) + "      s")
        for name, factory in scorers.items():
            t0 = time.perf_counter()
            res = evaluate(factory, corpus)
            dt = time.perf_counter() - t0
            totals[name].append(res)
            print(f"  {name:38s} " + " ".join(f"{res[p]:14.1f}" for p in PROFILES) + f" {dt:6.1f}")
    print(f"mean over seeds {args.seeds}:")
    for name, rows in totals.items():
        means = [float(np.mean([r[p] for r in rows])) for p in PROFILES]
        print(f"  {name:38s} " + " ".join(f"{m:14.1f}" for m in means))


if __name__ == "__main__":
    main()
