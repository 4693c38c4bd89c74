"""A/A validity and power of the canary-vs-baseline tests, beside polling a fixed-sample test.

Run: ``python -m tests.bench.detectors.canary [--runs 1000] [--power-runs 300]``

* A/A: both variants from one distribution; each sequential test is checked after every event;
  the false-positive rate (any rejection within the horizon) must stay <= alpha = 0.05. The
  polling approach — a fixed-sample Mann–Whitney test at alpha = 0.05 checked every N events —
  is shown for contrast: its error rate grows with the number of looks.
  A Bonferroni-corrected poll (alpha / number of looks) is the valid fixed-sample alternative.
* Power: a 2x error-rate regression (1% -> 2% of requests), a 20% latency regression
  (canary latencies x1.2, so its p99 is 20% higher) and a tail-only one (p99 +20%, same
  median): median and p95 detection delay, in events per variant, for the sequential tests
  and for polling Mann–Whitney every N events (p95 over the detected runs).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import binomtest, mannwhitneyu

from detectors import (
    MeanDifferenceCS,
    QuantileExceedanceTest,
    SequentialCountTest,
)

ALPHA = 0.05


def _rate(hits: int, runs: int) -> str:
    ci = binomtest(hits, runs).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = ci.low, ci.high
    return f"{hits / runs:6.3f}  95% CI [{lo:.3f}, {hi:.3f}]"


def count_test_first_rejection(canary_first: np.ndarray, share: float) -> int | None:
    """Index (in error events) of the first rejection, or None."""
    t = SequentialCountTest(canary_share=share, alpha=ALPHA)
    for i, is_canary in enumerate(canary_first.tolist()):
        t.update("canary" if is_canary else "baseline")
        if t.decision != "none":
            return i
    return None


def cs_first_rejection(base: np.ndarray, can: np.ndarray) -> int | None:
    """Index (in observations per variant) of the first rejection, or None."""
    cs = MeanDifferenceCS(alpha=ALPHA, log=True)
    for i, (b, c) in enumerate(zip(base.tolist(), can.tolist(), strict=True)):
        cs.update("baseline", b)
        cs.update("canary", c)
        if cs.decision != "none":
            return i
    return None


def exceedance_first_rejection(warm: np.ndarray, base: np.ndarray, can: np.ndarray) -> int | None:
    """p99-exceedance test: threshold from ``warm`` (baseline), then both variants in turn."""
    t = QuantileExceedanceTest(q=0.99, warmup=len(warm), alpha=ALPHA)
    for x in warm.tolist():
        t.update("baseline", x)
    for i, (b, c) in enumerate(zip(base.tolist(), can.tolist(), strict=True)):
        t.update("baseline", b)
        t.update("canary", c)
        if t.decision != "none":
            return i
    return None


def polling_mw_first_rejection(
    base: np.ndarray, can: np.ndarray, every: int, bonferroni: bool = False
) -> int | None:
    """Fixed-sample Mann–Whitney on all data so far, checked every ``every`` observations
    (at ``alpha / looks`` with ``bonferroni``, which keeps the error rate <= alpha)."""
    level = ALPHA / (len(base) // every) if bonferroni else ALPHA
    for n in range(every, len(base) + 1, every):
        if mannwhitneyu(can[:n], base[:n], alternative="two-sided").pvalue < level:
            return n - 1
    return None


def _delays(hits: list[int | None]) -> str:
    found = [h + 1 for h in hits if h is not None]
    if not found:
        return f"detected 0/{len(hits)}"
    med, p95 = np.percentile(found, 50), np.percentile(found, 95)
    return f"detected {len(found):4d}/{len(hits)}  median {med:7.0f}  p95 {p95:7.0f}"


def aa(runs: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    print(f"A/A: {runs} runs, alpha = {ALPHA}, test checked after every event")
    for share, events in ((0.5, 2000), (0.05, 2000)):
        hits = sum(
            count_test_first_rejection(rng.random(events) < share, share) is not None
            for _ in range(runs)
        )
        print(f"  count test, canary share {share:4.2f}, {events} errors:  FPR {_rate(hits, runs)}")
    n = 1000
    cs_hits = mw_hits = bonf_hits = 0
    for _ in range(runs):
        base = rng.lognormal(3.0, 0.6, n)
        can = rng.lognormal(3.0, 0.6, n)
        cs_hits += cs_first_rejection(base, can) is not None
        mw_hits += polling_mw_first_rejection(base, can, every=50) is not None
        bonf_hits += polling_mw_first_rejection(base, can, 50, bonferroni=True) is not None
    print(f"  mean-difference CS (log latency), {n} obs/variant:       FPR {_rate(cs_hits, runs)}")
    print(f"  polling Mann-Whitney every 50 obs (reference):          FPR {_rate(mw_hits, runs)}")
    print(f"  polling Mann-Whitney every 50 obs, Bonferroni:          FPR {_rate(bonf_hits, runs)}")
    ex_hits = 0
    for _ in range(runs):
        warm = rng.lognormal(3.0, 0.6, 1000)
        ex_hits += (
            exceedance_first_rejection(
                warm, rng.lognormal(3.0, 0.6, 5000), rng.lognormal(3.0, 0.6, 5000)
            )
            is not None
        )
    print(f"  p99-exceedance test, 5000 obs/variant:                  FPR {_rate(ex_hits, runs)}")


def power(runs: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    print(f"\nPower: {runs} runs per scenario; delays in events per variant")
    # 2x error rate: requests alternate between variants; errors at 1% vs 2%.
    horizon = 20_000
    seq, poll100, poll1000, bonf = [], [], [], []
    for _ in range(runs):
        base_err = rng.random(horizon) < 0.01
        can_err = rng.random(horizon) < 0.02
        # error events in arrival order, each with the request index it happened at
        at_all = np.concatenate([np.nonzero(base_err)[0], np.nonzero(can_err)[0]])
        order = np.argsort(at_all, kind="stable")
        is_can = np.repeat([False, True], [base_err.sum(), can_err.sum()])[order]
        hit = count_test_first_rejection(is_can, 0.5)
        seq.append(None if hit is None else int(at_all[order][hit]))
        b, c = base_err.astype(float), can_err.astype(float)
        poll100.append(polling_mw_first_rejection(b, c, 100))
        poll1000.append(polling_mw_first_rejection(b, c, 1000))
        bonf.append(polling_mw_first_rejection(b, c, 100, bonferroni=True))
    print("  2x error rate (1% -> 2%), requests per variant until detection:")
    print(f"    sequential count test (every event)   {_delays(seq)}")
    print(f"    polling Mann-Whitney every 100        {_delays(poll100)}")
    print(f"    polling Mann-Whitney every 1000       {_delays(poll1000)}")
    print(f"    polling MW every 100, Bonferroni      {_delays(bonf)}")
    horizon = 3000
    seq, poll50, poll500, bonf = [], [], [], []
    for _ in range(runs):
        base = rng.lognormal(3.0, 0.6, horizon)
        can = rng.lognormal(3.0, 0.6, horizon) * 1.2
        seq.append(cs_first_rejection(base, can))
        poll50.append(polling_mw_first_rejection(base, can, 50))
        poll500.append(polling_mw_first_rejection(base, can, 500))
        bonf.append(polling_mw_first_rejection(base, can, 50, bonferroni=True))
    print("  latency x1.2 (p99 +20%), lognormal sigma 0.6, observations per variant:")
    print(f"    mean-difference CS (every event)      {_delays(seq)}")
    print(f"    polling Mann-Whitney every 50         {_delays(poll50)}")
    print(f"    polling Mann-Whitney every 500        {_delays(poll500)}")
    print(f"    polling MW every 50, Bonferroni       {_delays(bonf)}")
    # Tail-only regression: same median, canary sigma 0.6 -> 0.678 so its p99 is 20% higher.
    horizon = 20_000
    tail_runs = max(1, runs * 2 // 3)
    ex, cs, poll, bonf = [], [], [], []
    for _ in range(tail_runs):
        warm = rng.lognormal(3.0, 0.6, 1000)
        base = rng.lognormal(3.0, 0.6, horizon)
        can = rng.lognormal(3.0, 0.6784, horizon)
        ex.append(exceedance_first_rejection(warm, base, can))
        cs.append(cs_first_rejection(base, can))
        poll.append(polling_mw_first_rejection(base, can, 1000))
        bonf.append(polling_mw_first_rejection(base, can, 1000, bonferroni=True))
    print(f"  tail-only: p99 +20%, same median ({tail_runs} runs), observations per variant:")
    print(f"    p99-exceedance test (every event)     {_delays(ex)}")
    print(f"    mean-difference CS (every event)      {_delays(cs)}")
    print(f"    polling Mann-Whitney every 1000       {_delays(poll)}")
    print(f"    polling MW every 1000, Bonferroni     {_delays(bonf)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--power-runs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    t0 = time.perf_counter()
    aa(args.runs, args.seed)
    power(args.power_runs, args.seed + 1)
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
