"""The default scorer on every corpus at once, one line each, beside itself at another revision.

Run: ``python -m tests.bench.detectors.compare [--old REV] [--real 0 1 2] [--synthetic 2 4 5]``

Prints NAB's standard / low-FP / low-FN scores of the default scorer on the NAB files under
``$ROLLGUARD_NAB_DIR`` (skipped when unset), on the real corpus
(:mod:`tests.bench.detectors.realcorpus`) per seed, and on the synthetic corpus
(:mod:`tests.bench.detectors.corpus`) as the mean over its seeds: the three corpora a scorer
change must not lose on. With ``--old REV`` the whole repository at ``REV`` (``git archive``,
so the scorer's helper modules come from the same revision, not only ``scoring.py``) runs the
same measurement in a second process at the same time, and both lines are printed: a paired run
on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from detectors import default_scorer
from tests.bench.detectors.corpus import Series, make_corpus
from tests.bench.detectors.nab import PROFILES, nab_score, nab_score_windows
from tests.bench.detectors.nab_data import ENV, load
from tests.bench.detectors.nab_eval import run_scorer
from tests.bench.detectors.realcorpus import make_real_corpus


def _fmt(values: list[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


def measure(real: list[int], synthetic: list[int]) -> list[tuple[str, str]]:
    """(corpus, 'standard / low-FP / low-FN') rows for the default scorer of this tree."""

    def factory(_: Series) -> object:
        return default_scorer()

    rows = []
    nab_dir = os.environ.get(ENV, "")
    if nab_dir:
        files, _ = load(Path(nab_dir))
        pairs = [(run_scorer(factory, Series(f.name, f.ts, f.values)), f.windows) for f in files]
        rows.append(
            (f"NAB ({len(files)} files)", _fmt([nab_score_windows(pairs, p)[0] for p in PROFILES]))
        )
    for seed in real:
        runs = [(run_scorer(factory, s), s.anomalies) for s in make_real_corpus(seed)]
        rows.append((f"real seed {seed}", _fmt([nab_score(runs, p)[0] for p in PROFILES])))
    if synthetic:
        per_seed = []
        for seed in synthetic:
            runs = [(run_scorer(factory, s), s.anomalies) for s in make_corpus(seed, 60)]
            per_seed.append([nab_score(runs, p)[0] for p in PROFILES])
        name = "synthetic " + "/".join(map(str, synthetic))
        rows.append((name, _fmt(list(np.mean(per_seed, axis=0)))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default="", help="git revision to run beside this tree")
    parser.add_argument("--real", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--synthetic", type=int, nargs="*", default=[2, 4, 5])
    parser.add_argument("--rows-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    seeds = ["--real", *map(str, args.real), "--synthetic", *map(str, args.synthetic)]
    if args.rows_only:  # the child of a paired run: rows on stdout, tab-separated
        for corpus, cells in measure(args.real, args.synthetic):
            print(f"{corpus}\t{cells}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        old = None
        if args.old:
            archive = subprocess.run(["git", "archive", args.old], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
            env = {**os.environ, "PYTHONPATH": tmp}
            # this file, run against the old tree's packages (cwd first on sys.path)
            cmd = [sys.executable, __file__, "--rows-only", *seeds]
            old = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, text=True)
        rows = measure(args.real, args.synthetic)
        old_rows = (
            dict(line.split("\t") for line in old.communicate()[0].splitlines()) if old else {}
        )
    print(f"{'corpus':24s} {'default scorer':>22s}" + (f" {'at ' + args.old:>22s}" if old else ""))
    for corpus, cells in rows:
        print(f"{corpus:24s} {cells:>22s}" + (f" {old_rows.get(corpus, '-'):>22s}" if old else ""))


if __name__ == "__main__":
    main()
