"""One chart per rule of a replayed rollout, drawn with matplotlib's Agg backend (no display).

The watched variant against the baseline variant (or the learned baseline) in the signal's
unit, the rule's limit, pending (amber) and firing (red) spans, stage changes (dotted) and
decisions (the deciding one bold and labelled); a rule decided by a test statistic (CUSUM,
sequential test, burn rate, anomaly score) gets a second, shorter panel with the statistic
against its alarm level. Every chart has its own clock-time axis (UTC) and a unit on each
y axis, so a chart cut out of the report still reads on its own.
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from typing import Any, Final, Literal

from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
from matplotlib.ticker import FuncFormatter, MaxNLocator

from monitor.core.replay import ReplayResult, Sample
from monitor.core.wording import is_percent, words

ACTION_COLOURS: Final = {
    "halt": "#000000",
    "rollback": "#b30000",
    "freeze": "#1f4e9e",
    "pause": "#d97706",
    "reduce_scope": "#7c3aed",
    "hold": "#6b7280",
    "promote": "#15803d",
}
VARIANT_COLOUR: Final = "#dc2626"
BASELINE_COLOUR: Final = "#2563eb"
Size = Literal["large", "medium", "small"]
SIZES: Final[dict[Size, tuple[float, float, float]]] = {
    # width, height (inches at 100 dpi), font size
    "large": (13.2, 4.6, 11.0),
    "medium": (13.2, 3.0, 10.0),
    "small": (6.5, 2.6, 8.5),
}


def _nan(values: list[float | None], scale: float = 1.0) -> list[float]:
    """Gaps (no data) as NaN, which matplotlib leaves blank."""
    return [math.nan if v is None else v * scale for v in values]


def spans(samples: list[Sample], state: str) -> list[tuple[float, float]]:
    """[start, end) event times during which the rule was in ``state``."""
    out: list[tuple[float, float]] = []
    start: float | None = None
    for s in samples:
        if s.state == state and start is None:
            start = s.ts
        elif s.state != state and start is not None:
            out.append((start, s.ts))
            start = None
    if start is not None and samples:
        out.append((start, samples[-1].ts))
    return out


def _clock(t0: float, span_s: float) -> FuncFormatter:
    fmt = "%H:%M" if span_s > 900 else "%H:%M:%S"
    return FuncFormatter(lambda x, _pos: datetime.fromtimestamp(t0 + x * 60, UTC).strftime(fmt))


def _labels(info: dict[str, Any], segkey: str) -> tuple[str, str, str]:
    """(watched, reference, limit) legend entries for one rule."""
    rule = info["rule"]
    th = rule.threshold
    watched = f"{rule.variant}" + (f" {{{segkey}}}" if segkey else "")
    reference = "learned baseline" if th.kind == "learned" else "baseline"
    q = words(rule.signal).label.split()[0]
    if th.method == "cusum" and th.kind == "vs_baseline":
        if rule.signal.startswith("latency_p"):
            limit = f"slow-order limit ({th.value:g} × baseline {q})"
        else:
            limit = "expected rate (baseline + margin)"
    elif th.kind == "vs_baseline" and th.method == "ratio":
        limit = f"limit ({th.value:g} × baseline)"
    elif th.kind == "burn_rate":
        limit = f"rate burning {th.factor:g}× the budget"
    else:
        limit = "limit"
    return watched, reference, limit


def draw_rule(
    result: ReplayResult,
    rollout_id: str,
    label: str,
    *,
    size: Size = "medium",
    deciding: str | None = None,
    t0: float | None = None,
) -> bytes:
    """The PNG of one rule's chart (``deciding``: command id of the decision to stress)."""
    samples = result.series[(rollout_id, label)]
    width, height, font = SIZES[size]
    fig = Figure(figsize=(width, height), dpi=100)
    if any(s.statistic is not None for s in samples):
        ax, ax_stat = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.3])
        axes = [ax, ax_stat]
    else:
        ax = fig.subplots()
        axes = [ax]
    start = samples[0].ts if t0 is None else t0
    _signal(ax, result, rollout_id, label, start, font)
    if len(axes) > 1:
        _statistic(axes[1], result, rollout_id, label, start, font)
    for a in axes:
        _marks(a, result, rollout_id, label, start, font, deciding, labelled=a is ax)
    _time_axis(axes, start, samples[-1].ts, font)
    fig.tight_layout()
    return _png(fig)


def draw_grid(
    result: ReplayResult, rollout_id: str, labels: list[str], *, t0: float | None = None
) -> bytes:
    """Many rules' signal charts in two columns, one PNG (the report's folded healthy rules)."""
    rows = math.ceil(len(labels) / 2)
    width, height, font = SIZES["small"]
    fig = Figure(figsize=(2 * width, rows * height), dpi=100)
    grid = fig.subplots(rows, 2, squeeze=False)
    for i, a in enumerate(grid.flat):
        if i >= len(labels):
            a.set_axis_off()
            continue
        samples = result.series[(rollout_id, labels[i])]
        start = samples[0].ts if t0 is None else t0
        _signal(a, result, rollout_id, labels[i], start, font)
        _marks(a, result, rollout_id, labels[i], start, font, None, labelled=False)
        _time_axis([a], start, samples[-1].ts, font)
    fig.tight_layout()
    return _png(fig)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _signal(
    ax: Any, result: ReplayResult, rollout_id: str, label: str, start: float, font: float
) -> None:
    """The watched variant, its reference and the limit, in the signal's unit."""
    info = result.rule_info[(rollout_id, label)]
    samples = result.series[(rollout_id, label)]
    rule = info["rule"]
    minutes = [(s.ts - start) / 60 for s in samples]
    w = words(rule.signal)
    scale = 100.0 if is_percent(rule.signal) else 1.0
    segkey = label[len(rule.name) + 1 : -1] if label != rule.name else ""
    watched, reference, limit = _labels(info, segkey)
    lines = ((True, "value", VARIANT_COLOUR, 1.6, watched),
             (False, "reference", BASELINE_COLOUR, 1.3, reference))  # fmt: skip
    for always, attr, colour, width, name in lines:
        values = [getattr(s, attr) for s in samples]
        if always or any(v is not None for v in values):
            ax.plot(minutes, _nan(values, scale), lw=width, color=colour, label=name)
    if any(s.threshold is not None for s in samples):
        ax.step(
            minutes,
            _nan([s.threshold for s in samples], scale),
            where="post",
            lw=1.1,
            ls="--",
            color="#111827",
            label=limit,
        )
    ax.set_ylabel(f"{w.label} ({w.unit})" if w.unit else w.label, fontsize=font)
    dry = ", dry-run" if info["dry_run"] else ""
    ax.set_title(
        f"{label}: {w.label} of {rule.variant} → {rule.action}{dry}", fontsize=font + 1, loc="left"
    )
    ax.legend(fontsize=font - 1, loc="upper left", framealpha=0.85)


def _statistic(
    ax: Any, result: ReplayResult, rollout_id: str, label: str, start: float, font: float
) -> None:
    """A test's statistic against its alarm level (CUSUM, e-value, burn rate, score)."""
    info = result.rule_info[(rollout_id, label)]
    samples = result.series[(rollout_id, label)]
    minutes = [(s.ts - start) / 60 for s in samples]
    ax.plot(
        minutes,
        _nan([s.statistic for s in samples]),
        lw=1.2,
        color="#7c3aed",
        label=info["statistic"] or "statistic",
    )
    ax.step(
        minutes,
        _nan([s.level for s in samples]),
        where="post",
        lw=1.0,
        ls="--",
        color="#111827",
        label="alarm level",
    )
    ax.set_ylabel("evidence", fontsize=font)
    ax.legend(fontsize=font - 1.5, loc="upper left", framealpha=0.85)


def _marks(
    ax: Any,
    result: ReplayResult,
    rollout_id: str,
    label: str,
    start: float,
    font: float,
    deciding: str | None,
    *,
    labelled: bool,
) -> None:
    """Pending/firing spans, stage changes and decisions on one axes."""
    samples = result.series[(rollout_id, label)]
    end = samples[-1].ts
    for state, colour in (("pending", "#fbbf24"), ("firing", "#ef4444")):
        for x0, x1 in spans(samples, state):
            ax.axvspan((x0 - start) / 60, (x1 - start) / 60, color=colour, alpha=0.2, lw=0)
    for change in result.stages:
        if change.rollout_id == rollout_id and start <= change.ts <= end:
            ax.axvline((change.ts - start) / 60, color="#9ca3af", lw=0.9, ls=":")
    for cmd in result.commands:
        if cmd.rollout_id != rollout_id or not start <= cmd.issued_at <= end:
            continue
        x = (cmd.issued_at - start) / 60
        bold = cmd.command_id == deciding
        colour = ACTION_COLOURS.get(cmd.action, "#000")
        ax.axvline(x, color=colour, lw=2.4 if bold else 1.2, alpha=0.5 if cmd.advisory else 0.9)
        if not labelled:
            continue
        when = datetime.fromtimestamp(cmd.issued_at, UTC).strftime("%H:%M:%S")
        ax.annotate(
            f"{cmd.action.upper()} {when}" if bold else cmd.action,
            (x, 0.97),
            xycoords=("data", "axes fraction"),
            rotation=0 if bold else 90,
            fontsize=font if bold else font - 2.5,
            fontweight="bold" if bold else "normal",
            color=colour,
            va="top",
            ha="right",
            bbox={"facecolor": "white", "alpha": 0.8, "lw": 0, "pad": 1} if bold else None,
        )
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=font - 1)
    ax.yaxis.set_major_locator(MaxNLocator(5))


def _time_axis(axes: list[Any], start: float, end: float, font: float) -> None:
    """Clock time (UTC) under every panel, the date in the bottom one's label."""
    for a in axes:
        a.tick_params(labelbottom=True)
        a.xaxis.set_major_formatter(_clock(start, end - start))
        a.xaxis.set_major_locator(MaxNLocator(10, steps=[1, 2, 2.5, 5, 10]))
    axes[-1].set_xlabel(
        f"event time, UTC ({datetime.fromtimestamp(start, UTC):%Y-%m-%d})", fontsize=font
    )
