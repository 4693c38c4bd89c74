"""Windowed (NAB-style) score per anomaly type on real series we did not write.

Run: ``python -m tests.bench.detectors.real_eval [--seeds 0 1] [--old REV]``

Scorers, in the same run: the default scorer, the plain EW z-score reference and, with
``--old REV`` (default ``ca75cb7``, the scorer before issue 19), the default scorer as it was
at that git revision (loaded with ``git show``, so this needs a git checkout). One parameter
set for all series, streaming (score, then learn), no look-ahead, nothing tuned per series.

Corpus: :mod:`tests.bench.detectors.realcorpus`. As in NAB, one threshold per scorer and
profile is optimised over the whole corpus (clean series included: their detections are false
positives); the rows per anomaly type are each type's share of that same run at that same
threshold (normalised by the type's own windows), so they add up to the overall picture
instead of flattering each type with its own threshold.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from detectors import EWZScoreScorer, default_scorer
from tests.bench.detectors.corpus import Series
from tests.bench.detectors.nab import PROFILES, nab_score
from tests.bench.detectors.nab_eval import old_scorer, run_scorer
from tests.bench.detectors.realcorpus import TYPES, make_real_corpus

Factory = Callable[[Series], Any]


def ew_zscore(series: Series) -> EWZScoreScorer:
    """The reference: EW z-score with a half-life of 100 typical spacings."""
    return EWZScoreScorer(half_life=100 * float(np.median(np.diff(series.ts))))


def table(scores: dict[str, list[np.ndarray]], corpus: list[Series]) -> dict[str, dict[str, Any]]:
    """Per scorer: per profile, the overall score and threshold, per-type scores, clean FPs."""
    out: dict[str, dict[str, Any]] = {}
    kinds = [s.name.split("/")[1] for s in corpus]
    for name, per_series in scores.items():
        pairs = list(zip(per_series, [s.anomalies for s in corpus], strict=True))
        row: dict[str, Any] = {}
        for profile in PROFILES:
            total, thr = nab_score(pairs, profile)
            row[profile] = total
            row[f"{profile}/thr"] = thr
            for kind in TYPES:
                sub = [p for p, k in zip(pairs, kinds, strict=True) if k == kind]
                if sub:
                    row[f"{profile}/{kind}"] = nab_score(sub, profile, np.array([thr]))[0]
            clean = [p for p, k in zip(pairs, kinds, strict=True) if k == "clean"]
            row[f"{profile}/clean_fp"] = sum(
                int((sc[min(int(0.15 * len(sc)), 750) :] >= thr).sum()) for sc, _ in clean
            )
        out[name] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--old", default="ca75cb7", help="git revision of the old scorer, '' skips")
    args = parser.parse_args()
    scorers: dict[str, Factory] = {"default_scorer": lambda s: default_scorer()}
    if args.old:
        scorers[f"default_scorer@{args.old}"] = old_scorer(args.old)
    scorers["EW z-score (half-life 100 spacings)"] = ew_zscore
    for seed in args.seeds:
        corpus = make_real_corpus(seed)
        n_points = sum(len(s.values) for s in corpus)
        n_anom = sum(len(s.anomalies) for s in corpus)
        print(f"real corpus seed={seed}: {len(corpus)} series, {n_points} points, {n_anom} labels")
        scores: dict[str, list[np.ndarray]] = {}
        cost: dict[str, float] = {}
        for name, factory in scorers.items():
            t0 = time.perf_counter()
            scores[name] = [run_scorer(factory, s) for s in corpus]
            cost[name] = (time.perf_counter() - t0) / n_points * 1e6
        rows = table(scores, corpus)
        for profile in PROFILES:
            print(f"  profile {profile}")
            head = ["all", *TYPES, "clean FP"]
            print(f"    {'scorer':38s} " + " ".join(f"{h[:8]:>8s}" for h in head))
            for name, row in rows.items():
                cells = [row[profile], *(row.get(f"{profile}/{k}", np.nan) for k in TYPES)]
                print(
                    f"    {name:38s} "
                    + " ".join(f"{c:8.1f}" for c in cells)
                    + f" {row[f'{profile}/clean_fp']:8d}"
                )
        print("  wall time per event (µs, incl. the loop): "
              + ", ".join(f"{k}: {v:.1f}" for k, v in cost.items()))  # fmt: skip


if __name__ == "__main__":
    main()
