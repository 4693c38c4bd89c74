"""Score anomaly scorers on the Numenta Anomaly Benchmark's own data, with NAB's scoring.

Run: ``python -m tests.bench.detectors.nab_data [--data DIR] [--old REV] [--files N]``

``DIR`` (or ``$ROLLGUARD_NAB_DIR``) is NAB's layout: ``labels/combined_windows.json`` and
``data/<category>/<file>.csv`` (``timestamp,value`` rows), e.g. a clone of numenta/NAB or any
subset of its files with its labels file. No package ships NAB's data, so nothing here
downloads it and the repository holds none of it; every labelled file found under ``DIR`` is
scored, and the run says which.

Scorers, in the same run: the default scorer, the default scorer at git revision ``--old``
(default ``ca75cb7``, before issue 19; ``''`` skips) and a plain EW z-score (half-life 100
typical spacings). Each series is streamed (``score_one`` then ``learn_one``, no look-ahead),
one parameter set for all series; the threshold is optimised once per scorer and profile over
all files (:mod:`tests.bench.detectors.nab`, NAB's sweeper). Per category: windows hit and
false-positive rows at that threshold.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detectors import EWZScoreScorer, default_scorer
from tests.bench.detectors.corpus import Series
from tests.bench.detectors.nab import PROFILES, Prepared, nab_score_windows, probation
from tests.bench.detectors.nab_eval import old_scorer, run_scorer

ENV = "ROLLGUARD_NAB_DIR"
HOW = (
    "NAB's data is not shipped by any package: clone https://github.com/numenta/NAB (or copy "
    "its labels/combined_windows.json and any data/<category>/<file>.csv) and pass the "
    f"directory with --data DIR or ${ENV}."
)


@dataclass(frozen=True)
class NabFile:
    """One labelled NAB series: its name (``category/file.csv``), rows and window indices."""

    name: str
    ts: np.ndarray
    values: np.ndarray
    windows: list[tuple[int, int]]

    @property
    def category(self) -> str:
        return self.name.split("/")[0]


def _epoch(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC).timestamp()


def load(root: Path) -> tuple[list[NabFile], list[str]]:
    """Every file of NAB's labels found under ``root/data``, and the labelled names missing."""
    labels_path = root / "labels" / "combined_windows.json"
    if not labels_path.is_file():
        raise FileNotFoundError(f"{labels_path} not found. {HOW}")
    labels: dict[str, list[list[str]]] = json.loads(labels_path.read_text())
    found, missing = [], []
    for name, limits in sorted(labels.items()):
        path = root / "data" / name
        if not path.is_file():
            missing.append(name)
            continue
        rows = [line.split(",") for line in path.read_text().splitlines()[1:] if line.strip()]
        ts = np.array([_epoch(r[0]) for r in rows])
        values = np.array([float(r[1]) for r in rows])
        wins = []
        for start, end in limits:  # NAB enters and leaves a window on its exact timestamps
            left = int(np.searchsorted(ts, _epoch(start), side="left"))
            right = int(np.searchsorted(ts, _epoch(end), side="right")) - 1
            if not 0 <= left <= right < len(ts):
                raise ValueError(f"{path}: window {start} .. {end} is outside its rows")
            wins.append((left, right))
        found.append(NabFile(name, ts, values, wins))
    return found, missing


def ew_zscore(series: Series) -> EWZScoreScorer:
    """The reference: EW z-score with a half-life of 100 typical spacings."""
    return EWZScoreScorer(half_life=100 * float(np.median(np.diff(series.ts))))


def evaluate(scores: list[np.ndarray], files: list[NabFile]) -> dict[str, dict[str, Any]]:
    """Per profile: normalised score, threshold, and per category windows hit / FP rows."""
    pairs = [(sc, f.windows) for sc, f in zip(scores, files, strict=True)]
    out: dict[str, dict[str, Any]] = {}
    for profile in PROFILES:
        total, thr = nab_score_windows(pairs, profile)
        cats: dict[str, list[int]] = {}
        for sc, f in zip(scores, files, strict=True):
            prep = Prepared([(sc, f.windows)])
            hit = prep.scores >= thr
            wins_hit = len(np.unique(prep.win[hit & (prep.win >= 0)]))
            row = cats.setdefault(f.category, [0, 0, 0])
            row[0] += wins_hit
            row[1] += len(prep.scorable)
            row[2] += int((hit & (prep.win < 0)).sum())
        out[profile] = {"score": total, "thr": thr, "categories": cats}
    return out


def load_from_args(
    parser: argparse.ArgumentParser,
) -> tuple[list[NabFile], list[str], argparse.Namespace]:
    """Parse ``--data DIR`` (default ``$ROLLGUARD_NAB_DIR``) and the parser's own options, and
    load the NAB files there; exit with a message saying how to get NAB's data if there are
    none."""
    parser.add_argument("--data", default=os.environ.get(ENV, ""), help=f"NAB directory (${ENV})")
    args = parser.parse_args()
    if not args.data:
        sys.exit(f"no NAB directory given. {HOW}")
    try:
        files, missing = load(Path(args.data))
    except (FileNotFoundError, ValueError) as err:
        sys.exit(str(err))
    if not files:
        sys.exit(f"no labelled NAB file under {args.data}/data. {HOW}")
    return files, missing, args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default="ca75cb7", help="git revision of the old scorer, '' skips")
    files, missing, args = load_from_args(parser)
    n_rows = sum(len(f.values) for f in files)
    n_win = sum(len(f.windows) for f in files)
    print(f"NAB data in {args.data}: {len(files)} of {len(files) + len(missing)} labelled "
          f"files, {n_rows} rows, {n_win} windows")  # fmt: skip
    for f in files:
        print(f"  {f.name:58s} {len(f.values):6d} rows {len(f.windows)} windows "
              f"(probation {probation(len(f.values))})")  # fmt: skip
    scorers: dict[str, Callable[[Series], Any]] = {"default_scorer": lambda s: default_scorer()}
    if args.old:
        scorers[f"default_scorer@{args.old}"] = old_scorer(args.old)
    scorers["EW z-score (half-life 100 spacings)"] = ew_zscore
    cats = sorted({f.category for f in files})
    for name, factory in scorers.items():
        t0 = time.perf_counter()
        scores = [run_scorer(factory, Series(f.name, f.ts, f.values)) for f in files]
        us = (time.perf_counter() - t0) / n_rows * 1e6
        res = evaluate(scores, files)
        print(f"\n{name}  ({us:.1f} µs/event incl. the loop)")
        print("  " + "  ".join(f"{p} {res[p]['score']:6.1f} (thr {res[p]['thr']:.4f})"
                               for p in PROFILES))  # fmt: skip
        std = res["standard"]["categories"]
        print("  at the standard threshold, per category: windows hit / windows, FP rows")
        for c in cats:
            hit, wins, fp = std[c]
            print(f"    {c:24s} {hit:3d} / {wins:3d}  {fp:6d}")


if __name__ == "__main__":
    main()
