"""Why the default scorer hits or misses NAB windows: its internal state, file by file.

Run: ``python -m tests.bench.detectors.nab_explain [--data DIR] [--thr T]``

At threshold ``T`` (default: the standard profile's corpus optimum) it prints, per file, each
window's best score and where in the window the first detection falls (NAB's reward falls
from 1 at the left edge to 0 at the right edge), or why it was missed — **suppressed** (the
evidence crossed the threshold but the refractory memory of an earlier report, or its
hold-off, held it back) or **weak** (the evidence never got there) — and the false-positive
rows by the view that produced them: level, jump, short mean, or a stuck run. A bench tool: it
reads the scorer's private per-event work (``_cache``), which is no API.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from detectors import AnomalyScorer, default_scorer
from detectors._scoring_learn import _Z99
from tests.bench.detectors.nab import nab_score_windows, probation
from tests.bench.detectors.nab_data import NabFile, load_from_args


def trace(f: NabFile) -> list[tuple[float, float, str]]:
    """Per row: score, evidence in decades before the refractory memory, and its view."""
    sc: AnomalyScorer = default_scorer()
    out: list[tuple[float, float, str]] = []
    for t, x in zip(f.ts.tolist(), f.values.tolist(), strict=True):
        score = sc.score_one(x, t)
        work = sc._cache[2] if sc._cache is not None else (0.0,)
        if len(work) > 1:
            cal = sc.cal[:3]
            zs = [r * _Z99 / c if c > _Z99 else r for r, c in zip(work[8:11], cal, strict=True)]
            view = ("level", "jump", "short mean")[int(np.argmax(zs))]
            if work[14] and max(zs) < 3.0:  # a run of repeats carries the evidence
                view = "stuck run"
            out.append((score, float(work[11]), view))
        else:
            out.append((score, 0.0, "-"))
        sc.learn_one(x, t)
    return out


def explain(files: list[NabFile], thr: float) -> None:
    """Print windows hit or missed (and why) and FP rows by view, at threshold ``thr``."""
    needed = 6.0 * thr / (1.0 - thr)  # decades for a score of thr with nothing banked
    fp_views: Counter[str] = Counter()
    for f in files:
        rows = trace(f)
        p = probation(len(rows))
        inside = np.zeros(len(rows), dtype=bool)
        print(f"{f.name}")
        for left, right in f.windows:
            inside[left : right + 1] = True
            seg = [(i, *rows[i]) for i in range(max(left, p), right + 1)]
            if not seg:
                print(f"  window [{left}, {right}]: probationary")
                continue
            best = max(seg, key=lambda r: r[1])
            hit = next((r for r in seg if r[1] >= thr), None)
            where = f"best {best[1]:.3f} ({best[3]})"
            if hit is not None:
                frac = (hit[0] - left) / (right - left + 1)
                print(f"  window [{left}, {right}]: hit at {frac:.2f} of it, {where}")
            else:
                held = any(r[2] >= needed for r in seg)
                why = "suppressed by an earlier report (memory or hold-off)" if held else "weak"
                print(f"  window [{left}, {right}]: MISSED ({why}), {where}")
        outside = [i for i in range(p, len(rows)) if not inside[i]]
        fps = Counter(rows[i][2] for i in outside if rows[i][0] >= thr)
        fp_views.update(fps)
        print("  false-positive rows: " + (", ".join(f"{v} {k}" for v, k in fps.items()) or "0"))
    print("all files, false-positive rows by view: "
          + ", ".join(f"{v} {k}" for v, k in fp_views.most_common()))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--thr", type=float, default=None, help="threshold (default: optimum)")
    files, _, args = load_from_args(parser)
    thr = args.thr
    if thr is None:
        scores = [np.array([r[0] for r in trace(f)]) for f in files]
        thr = nab_score_windows([(s, f.windows) for s, f in zip(scores, files, strict=True)])[1]
    print(f"default scorer at threshold {thr:.4f}")
    explain(files, thr)


if __name__ == "__main__":
    main()
