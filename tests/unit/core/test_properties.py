"""Property: the core's rule states equal a plain re-computation of the same definition.

Reference: error rate over the last ``window`` seconds (sums of the per-second counts), then
Prometheus's alerting rules written out longhand. Any order of events inside a second, any
batch split: same states.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.core import Core
from tests.unit.core.helpers import T0, orders, plan_set, register, rule

N = 10  # orders per second


def reference_states(errors: list[int], window: int, for_s: int, keep: int) -> list[str]:
    states, state = [], "inactive"
    active_at = keep_since = None
    for t in range(len(errors)):
        lo = max(0, t - window + 1)
        rate = sum(errors[lo : t + 1]) / (N * (t + 1 - lo))
        if rate > 0.1:
            keep_since = None
            if state == "inactive":
                state, active_at = "pending", t
            if state == "pending" and t - active_at >= for_s:
                state = "firing"
        elif state == "firing" and keep and (keep_since is None or t - keep_since < keep):
            keep_since = t if keep_since is None else keep_since
            if t - keep_since >= keep:
                state = "inactive"
        else:
            state, keep_since = "inactive", None
        states.append(state)
    return states


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    errors=st.lists(st.sampled_from([0, 0, 1, 2, 3, 5]), min_size=5, max_size=40),
    window=st.integers(1, 4),
    for_s=st.integers(0, 4),
    keep=st.integers(0, 3),
    seed=st.integers(0, 1000),
)
def test_core_states_match_reference(
    tmp_path_factory: object, errors: list[int], window: int, for_s: int, keep: int, seed: int
) -> None:
    tmp = tmp_path_factory.mktemp("p")  # type: ignore[attr-defined]
    plans = plan_set(
        tmp,
        [rule("r", window=f"{window}s", **{"for": f"{for_s}s", "keep_firing_for": f"{keep}s"})],
        allowed_lateness="1s",
    )
    rng = random.Random(seed)
    events = [register()]
    for t, e in enumerate(errors):
        events += orders(t, N, errors=e)
    # shuffle within one second (inside the 1 s lateness) and split into random batches
    body = events[1:]
    for i in range(0, len(body), N):
        chunk = body[i : i + N]
        rng.shuffle(chunk)
        body[i : i + N] = chunk
    core = Core(plans)
    got: dict[int, str] = {}
    # the observer sees every evaluated step, whichever event or batch triggered it
    core.observer = lambda r, step: got.__setitem__(
        round(step * r.res - T0), r.stage_rules()[0].alert.state
    )
    core.process(events[:1])
    i = 0
    while i < len(body):
        j = i + rng.randint(1, 25)
        core.process(body[i:j])
        i = j
    core.advance_watermark(T0 + len(errors) + 1)
    assert [got[t] for t in range(len(errors))] == reference_states(errors, window, for_s, keep)
