"""Behaviour of the default anomaly scorer through its public API."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

import detectors as d


def _trained(seed: int = 0, n: int = 500, spacing: float = 60.0) -> d.AnomalyScorer:
    rng = random.Random(seed)
    sc = d.default_scorer()
    for i in range(n):
        x = rng.gauss(100.0, 5.0)
        sc.learn_one(x, spacing * i)
    return sc


def _clone(sc: d.AnomalyScorer) -> d.AnomalyScorer:
    return d.AnomalyScorer.from_state(sc.state_dict())


def test_scores_are_ordered_and_never_saturate() -> None:
    base = _trained()
    spikes = [110.0, 120.0, 150.0, 200.0, 1e3, 1e5, 1e9, 1e15]
    scores = [_clone(base).score_one(x, 60.0 * 500) for x in spikes]
    assert all(0.0 <= s < 1.0 for s in scores)
    assert scores == sorted(scores) and len(set(scores)) == len(scores), scores
    assert scores[2] > 0.5 > scores[0]


def test_score_one_does_not_learn() -> None:
    sc = _trained()
    before = sc.state_dict()
    sc.score_one(1e6, 60.0 * 500)
    assert sc.state_dict() == before


def test_constant_series_then_change() -> None:
    sc = d.default_scorer()
    scores = []
    for i in range(300):
        x = 5.0 if i < 250 else 6.0
        scores.append(sc.score_one(x, float(i)))
        sc.learn_one(x, float(i))
    assert all(math.isfinite(s) for s in scores)
    assert max(scores[:250]) < 0.5
    assert scores[250] > 0.5


def test_level_shift_is_flagged_once_then_learned() -> None:
    rng = random.Random(3)
    sc = d.default_scorer()
    scores = []
    for i in range(1200):
        x = rng.gauss(100.0, 5.0) + (40.0 if i >= 800 else 0.0)
        scores.append(sc.score_one(x, 60.0 * i))
        sc.learn_one(x, 60.0 * i)
    assert max(scores[800:805]) > 0.5
    assert max(scores[900:]) < 0.5  # the new level became the baseline
    assert max(scores[100:800]) < 0.5


def test_outliers_are_not_learned_into_the_baseline() -> None:
    sc = _trained()
    level = sc.m
    for j in range(5):
        sc.learn_one(1e6, 60.0 * (500 + j))
    assert abs(sc.m - level) < 10.0


def test_bad_input_is_ignored() -> None:
    sc = _trained()
    before = sc.state_dict()
    assert sc.score_one(math.nan, 1.0) == 0.0
    sc.learn_one(math.inf, 60.0 * 500)
    sc.learn_one(1.0, math.nan)
    assert sc.state_dict() == before


def test_time_unit_does_not_matter_but_gaps_do() -> None:
    # Only the time-of-day view reads absolute time; without it, decay follows the spacing.
    rng = np.random.default_rng(2)
    xs = rng.normal(0.0, 1.0, 800).tolist()
    gaps = rng.exponential(1.0, 800)
    ts = np.cumsum(gaps)
    a, b = d.default_scorer(season_period=0.0), d.default_scorer(season_period=0.0)
    out_a, out_b = [], []
    for x, t in zip(xs, ts.tolist(), strict=True):
        out_a.append(a.score_one(x, t))
        a.learn_one(x, t)
        out_b.append(b.score_one(x, 3600.0 * t))
        b.learn_one(x, 3600.0 * t)
    np.testing.assert_allclose(out_a, out_b, rtol=1e-6, atol=1e-9)
    # A long silence forgets more of the old level than the same number of events would.
    c, e = _clone(a), _clone(a)
    for j in range(30):
        c.learn_one(10.0, ts[-1] + 1.0 + j)
        e.learn_one(10.0, ts[-1] + 500.0 + j)
    assert e.m > c.m


def test_beats_plain_ew_zscore_on_labelled_synthetic_series() -> None:
    from tests.bench.detectors.corpus import make_corpus
    from tests.bench.detectors.nab import nab_score
    from tests.bench.detectors.nab_eval import run_scorer

    corpus = make_corpus(seed=11, size=14)
    ours = nab_score([(run_scorer(lambda s: d.default_scorer(), s), s.anomalies) for s in corpus])
    ref = nab_score(
        [
            (run_scorer(lambda s: d.EWZScoreScorer(half_life=100 * 300.0), s), s.anomalies)
            for s in corpus
        ]
    )
    assert ours[0] > ref[0] + 5.0, (ours, ref)


def test_nab_scorer_reference_points() -> None:
    from tests.bench.detectors.nab import nab_score, windows

    n, anomalies = 2000, [800, 1500]
    wins = windows(n, anomalies)
    assert wins == [(750, 850), (1450, 1550)]
    early = np.zeros(n)
    for left, _ in wins:
        early[left] = 1.0
    assert nab_score([(early, anomalies)])[0] == pytest.approx(100.0)
    assert nab_score([(np.zeros(n), anomalies)], thresholds=np.array([0.5]))[0] == 0.0
    noisy = early.copy()
    noisy[400] = 1.0  # one false positive before any window: full FP weight
    assert nab_score([(noisy, anomalies)])[0] == pytest.approx(100.0 * (4 - 0.11) / 4)


def test_nab_sweep_tries_every_distinct_score_as_nab_does() -> None:
    from tests.bench.detectors.nab import PROFILES, Prepared, windows

    rng = np.random.default_rng(5)
    results = []
    for n, onsets in ((1500, [600, 1100]), (900, []), (6000, [300, 4000])):  # one in probation
        scores = np.round(rng.random(n) ** 8, 3)  # ties, as quantised scores have
        for at in onsets:
            scores[at + int(rng.integers(-40, 40))] = 0.99
        results.append((scores, windows(n, onsets)))
    prepared = Prepared(results)
    assert len(prepared.scorable) == 3  # the window at 300 of 6000 rows is probationary
    for cost in PROFILES.values():
        raw, thr = prepared.sweep(cost)
        tried = [*np.unique(prepared.scores), np.inf]  # NAB starts above every score
        brute = max(prepared.total(t, cost) for t in tried)
        assert raw == pytest.approx(brute)
        assert prepared.total(thr, cost) == pytest.approx(raw)
    assert prepared.sweep(PROFILES["standard"])[0] > -3.0  # detecting beats detecting nothing


def test_broken_daily_pattern_is_seen_in_context() -> None:
    rng = np.random.default_rng(4)
    n, day = 288 * 12, 288  # twelve days of 5-minute points
    t = np.arange(n)
    xs = 100.0 + 30.0 * np.sin(2 * np.pi * t / day) + rng.normal(0.0, 3.0, n)
    start = 288 * 10 + 60
    xs[start : start + 100] = 100.0 + rng.normal(0.0, 3.0, 100)  # the pattern stops

    def peak(scorer: d.AnomalyScorer) -> tuple[float, float]:
        out = []
        for i, x in enumerate(xs.tolist()):
            out.append(scorer.score_one(x, 300.0 * i))
            scorer.learn_one(x, 300.0 * i)
        return max(out[start : start + 100]), max(out[288 * 4 : start])

    with_context, before = peak(d.default_scorer())
    without_context, _ = peak(d.default_scorer(season_period=0.0))
    assert with_context > 0.5 > before
    assert with_context > without_context


# The five mechanisms of issue 19, each on a small series. ``_scores`` runs the default scorer
# the way a stream does: score, then learn, event by event.


def _scores(xs: np.ndarray, ts: np.ndarray, **params: float) -> np.ndarray:
    sc = d.default_scorer(**params)
    out = []
    for x, t in zip(xs.tolist(), ts.tolist(), strict=True):
        out.append(sc.score_one(x, t))
        sc.learn_one(x, t)
    return np.array(out)


def test_repeated_values_keep_their_step_size_as_scale() -> None:
    # A quantised gauge: mostly repeated values, occasional +-1 steps, then a jump of 8.
    # Before: the scales shrank to ~1e-9 between steps and every ordinary step scored ~0.85.
    rng = np.random.default_rng(0)
    n = 3000
    steps = np.zeros(n)
    steps[rng.choice(np.arange(1, n), 120, replace=False)] = rng.choice([-1.0, 1.0], 120)
    xs = 50.0 + np.cumsum(steps)
    xs[2600:] += 8.0
    scores = _scores(xs, 60.0 * np.arange(n))
    assert scores[300:2600].max() < 0.5 < scores[2600]
    assert scores[2600] > 0.9


def test_a_later_anomaly_is_reported_after_a_huge_one() -> None:
    # A first anomaly of 2e5 SDs, then a 10-SD spike 1200 events later. Before: the alarm
    # memory banked the raw evidence (~1e9 decades) and the second spike scored ~0.55.
    rng = np.random.default_rng(0)
    xs = rng.normal(100.0, 5.0, 3000)
    xs[800], xs[2000] = 1e6, 150.0
    scores = _scores(xs, 60.0 * np.arange(3000))
    assert scores[800] > 0.99
    assert scores[2000] > 0.7
    assert scores[801:2000].max() < 0.5  # and the first incident was reported once


@pytest.mark.parametrize("seed", [0, 3])
def test_a_later_anomaly_is_reported_on_a_series_that_never_calms(seed: int) -> None:
    # A trending random walk is never calm (its level view keeps p < 0.05), so the alarm
    # memory of a +30 level shift faded at the slow rate and a +10 spike 200 events later
    # scored 0.0. The memory now fades fast once the evidence is far below it.
    rng = np.random.default_rng(seed)
    xs = 100.0 + np.cumsum(rng.normal(0.3, 1.0, 3000))
    xs[1500:] += 30.0
    xs[1700] += 10.0
    scores = _scores(xs, 60.0 * np.arange(3000))
    assert scores[1500] > 0.9
    assert scores[1501:1700].max() == 0.0  # the shift was reported once
    assert scores[1700] > 0.45


def test_daily_transitions_are_expected_and_a_broken_day_is_not() -> None:
    # A clean daily square pattern (high 08:00-18:00): the time-of-day profile expects the
    # transitions. Before: the jump view fired at each one (0.59) and the max over views
    # let it overrule the seasonal view.
    rng = np.random.default_rng(0)
    day = 288
    t = np.arange(12 * day)
    hour = (t % day) / 12.0
    xs = np.where((hour >= 8) & (hour < 18), 80.0, 20.0) + rng.normal(0.0, 1.0, len(t))
    broken = 10 * day + 120  # 10:00 on day 10: the day stays at the night level
    xs[broken : broken + 60] = 20.0 + rng.normal(0.0, 1.0, 60)
    scores = _scores(xs, 300.0 * t)
    assert scores[3 * day : broken].max() < 0.5 < scores[broken : broken + 60].max()


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_a_smooth_daily_pattern_leaves_no_steps_at_bucket_boundaries(noise: float) -> None:
    # A daily sine every 5 minutes (six events per half-hour bucket). Before: the profile's
    # offsets were stepwise, so each bucket boundary was a jump of a sixth of the pattern's
    # half-hour change against values that move smoothly: 0.54 (noise-free) and 0.52-0.55
    # (seeds 0-2, noise 0.2) once the profile began to speak. Interpolated between bucket
    # centres, the pattern is expected everywhere; the square pattern above keeps its steps.
    rng = np.random.default_rng(0)
    day = 288
    t = np.arange(8 * day)
    xs = 50.0 + 30.0 * np.sin(2.0 * np.pi * t / day) + rng.normal(0.0, noise, len(t))
    assert _scores(xs, 300.0 * t)[2 * day :].max() < 0.4
    if noise == 0.0:  # refractory=0 (a rule's persistent score) keeps stepwise offsets: as before
        assert _scores(xs, 300.0 * t, refractory=0.0)[2 * day :].max() == pytest.approx(
            0.6449, abs=1e-4
        )


def test_real_excursions_are_not_discounted() -> None:
    # A 7-SD dip on normal noise. Before: the per-series tail fit turned it into ~3 decades.
    rng = np.random.default_rng(0)
    xs = rng.normal(100.0, 5.0, 2000)
    xs[1500] = 100.0 - 7 * 5.0
    scores = _scores(xs, 60.0 * np.arange(2000))
    assert scores[300:1500].max() < 0.5 < scores[1500]


def test_a_slow_level_change_is_seen() -> None:
    # +10 SD over 150 events, then stays. Before: the ramp inflated the scales and the
    # per-series calibration it was measured by, and it peaked at 0.47.
    rng = np.random.default_rng(0)
    xs = rng.normal(100.0, 5.0, 2000)
    xs[1500:1650] += np.linspace(0.0, 50.0, 150)
    xs[1650:] += 50.0
    scores = _scores(xs, 60.0 * np.arange(2000))
    assert scores[300:1500].max() < 0.5 < scores[1500:1650].max()
    assert scores[1700:].max() < 0.5  # the new level was learned


def _drifting_ar1(seed: int, scorer: d.AnomalyScorer) -> tuple[list[float], set[int]]:
    # An autocorrelated series (AR(1), phi 0.95: a temperature, a queue) that drifts by
    # +0.1 a step (~0.3 of its spread) from event 2000 on. Returns the scores and the drift
    # directions the scorer's state held.
    rng = random.Random(seed)
    e, scores, anchored = 0.0, [], set()
    for i in range(2400):
        e = 0.95 * e + rng.gauss(0.0, 1.0)
        x = 20.0 + e + (0.1 * (i - 2000) if i >= 2000 else 0.0)
        scores.append(scorer.score_one(x, 60.0 * i))
        scorer.learn_one(x, 60.0 * i)
        if i >= 2000:
            anchored.add(scorer.state_dict()["anchor_dir"])
    return scores, anchored


def test_a_drift_is_measured_from_where_it_started() -> None:
    # The short mean sees the drift weakly (its spread is wide on an autocorrelated series),
    # and each time the level accepts the drifted values as a new level, the level view starts
    # again from zero: before the drift anchor the ramp peaked at 0.38. Against the level it
    # left, the drift's evidence keeps growing while same-way shifts keep coming.
    scores, anchored = _drifting_ar1(2, d.default_scorer())
    assert max(scores[300:2000]) < 0.45 < max(scores[2000:])
    assert 1 in anchored
    # refractory=0 (a rule's persistent score) sets no anchor: its scores are as before.
    assert _drifting_ar1(2, d.default_scorer(refractory=0.0))[1] == {0}


def test_weekly_pattern_is_expected_and_a_holiday_is_not() -> None:
    # Hourly, a daily cycle, weekends at half the level; in week 6 a Wednesday looks like a
    # Saturday. Before: daily context only, so the holiday scored 0.38.
    rng = np.random.default_rng(0)
    t = np.arange(24 * 7 * 7)
    hod, dow = t % 24, (t // 24) % 7
    xs = 100.0 + 30.0 * np.sin(2 * np.pi * (hod - 6) / 24)
    xs = np.where(dow >= 5, 0.5 * xs, xs) + rng.normal(0.0, 2.0, len(t))
    holiday = 24 * (7 * 5 + 2)
    xs[holiday : holiday + 24] = xs[holiday - 96 : holiday - 72]
    ts = 3600.0 * t + 4 * 86400.0  # day 0 is a Monday (the epoch was a Thursday)
    scores = _scores(xs, ts)
    assert scores[24 * 7 * 3 : holiday].max() < 0.5 < scores[holiday : holiday + 24].max()
    no_week = _scores(xs, ts, week_buckets=0)
    assert no_week[holiday : holiday + 24].max() < scores[holiday : holiday + 24].max()


def _spiked(spikes: dict[int, float]) -> np.ndarray:
    xs = np.random.default_rng(1).normal(100.0, 5.0, 1200)
    for at, x in spikes.items():
        xs[at] = x
    return _scores(xs, 60.0 * np.arange(1200))


def test_one_report_per_onset_then_a_hold_off() -> None:
    # A 20-SD spike at 800, then a 28-SD one 40 events later: the alarm memory has faded enough
    # to let the second through as a weaker report (0.42 before the hold-off, a false positive
    # per row in NAB's scoring); within `refractory` events only a decade stronger one counts.
    assert _spiked({800: 200.0, 840: 240.0})[840] == 0.0
    assert _spiked({800: 200.0, 900: 240.0})[900] > 0.7  # past the hold-off: reported
    escalation = _spiked({800: 200.0, 840: 2000.0})
    assert escalation[840] > escalation[800] > 0.9  # a stronger one is reported at once
    assert _spiked({840: 240.0})[840] > 0.9  # alone, the second spike is an incident


def test_hold_off_is_off_for_persistent_scores() -> None:
    # refractory=0 (rules with `for:`): every event of a persisting anomaly keeps its score.
    sc = d.default_scorer(refractory=0.0)
    rng = random.Random(2)
    scores = []
    for i in range(900):
        x = rng.gauss(100.0, 5.0) + (200.0 if 800 <= i < 805 else 0.0)
        scores.append(sc.score_one(x, 60.0 * i))
        sc.learn_one(x, 60.0 * i)
    assert min(scores[800:805]) > 0.5


def test_an_excursion_below_the_banking_level_is_reported_once() -> None:
    # Eight values ~4.5 SD out: ~5 decades each, below the memory's banking level (half_point).
    # Before the hold-off every value that beat the last report was reported again (scores
    # 0.43, 0.42, 0.56, 0.41: four false-positive rows outside a window); now the onset and
    # one escalation by more than a decade.
    xs = np.random.default_rng(1).normal(100.0, 5.0, 1200)
    xs[800:808] = 122.5 + np.random.default_rng(2).normal(0.0, 1.0, 8)
    scores = _scores(xs, 60.0 * np.arange(1200))
    assert scores[800] > 0.3
    assert (scores[800:812] >= 0.3).sum() <= 2
