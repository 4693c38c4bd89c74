"""False-alarm rate (ARL0) and detection delay of the CUSUM change detector, by simulation.

Run: ``python -m tests.bench.detectors.change [--runs 200]``. ARL0 is the mean number of events
until a false alarm on in-control data (capped at ``--cap`` events; capped runs count as the cap,
so the figure is a lower bound). Siegmund's approximation is printed for known-parameter
Gaussian data; river's ``drift.PageHinkley`` (default parameters) is the reference.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
from river import drift

from detectors import Cusum, siegmund_arl0

Noise = Callable[[np.random.Generator, int], np.ndarray]

NOISES: dict[str, Noise] = {
    "normal": lambda rng, n: rng.normal(0.0, 1.0, n),
    "student-t(3)": lambda rng, n: rng.standard_t(3, n) / np.sqrt(3.0),
    "lognormal(0, 0.6)": lambda rng, n: rng.lognormal(0.0, 0.6, n),
}


def run_length(make: Callable[[], object], xs: np.ndarray) -> int:
    det = make()
    update = det.update  # type: ignore[attr-defined]
    for i, x in enumerate(xs.tolist()):
        update(x)
        if det.drift_detected:  # type: ignore[attr-defined]
            return i + 1
    return len(xs)


def arl0(
    make: Callable[[], object], noise: Noise, runs: int, cap: int, seed: int
) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    rl = [run_length(make, noise(rng, cap)) for _ in range(runs)]
    return float(np.mean(rl)), float(np.mean(np.array(rl) >= cap))


def delay(
    make: Callable[[], object], shift: float, runs: int, seed: int
) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    out, missed = [], 0
    for _ in range(runs):
        xs = rng.normal(0.0, 1.0, 1500)
        xs[1000:] += shift
        det = make()
        hit = None
        for i, x in enumerate(xs.tolist()):
            det.update(x)  # type: ignore[attr-defined]
            if det.drift_detected and i >= 1000:  # type: ignore[attr-defined]
                hit = i - 1000 + 1
                break
        if hit is None:
            missed += 1
        else:
            out.append(hit)
    return float(np.median(out)), float(np.percentile(out, 95)), missed / runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--cap", type=int, default=50_000)
    args = parser.parse_args()
    detectors: dict[str, Callable[[], object]] = {
        "Cusum(h=8) default": Cusum,
        "Cusum(h=5)": lambda: Cusum(h=5.0),
        "river PageHinkley()": drift.PageHinkley,
    }
    print(f"ARL0 (mean events to a false alarm, {args.runs} runs, cap {args.cap}):")
    print(f"  Siegmund, known parameters, two-sided: h=8 {siegmund_arl0(0.5, 8.0) / 2:8.0f}"
          f"   h=5 {siegmund_arl0(0.5, 5.0) / 2:6.0f}")  # fmt: skip
    for name, make in detectors.items():
        cells = []
        for noise_name, noise in NOISES.items():
            mean, capped = arl0(make, noise, args.runs, args.cap, seed=1)
            cells.append(f"{noise_name} {mean:8.0f} ({capped:4.0%} capped)")
        print(f"  {name:22s} " + "   ".join(cells))
    print("\nDetection delay after a mean shift at event 1000 (normal data, 200 runs):")
    for name, make in detectors.items():
        cells = []
        for shift in (1.0, 2.0):
            med, p95, missed = delay(make, shift, 200, seed=2)
            cells.append(f"{shift:.0f} SD: median {med:5.0f} p95 {p95:5.0f} missed {missed:4.0%}")
        print(f"  {name:22s} " + "   ".join(cells))


if __name__ == "__main__":
    main()
