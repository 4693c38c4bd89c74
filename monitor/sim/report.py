"""Benchmark output: a rich table side by side per policy, and a PNG plot (matplotlib Agg)."""

from __future__ import annotations

import statistics
from pathlib import Path

from rich.console import Console
from rich.table import Table

from monitor.sim.bench import POLICIES, RunResult
from monitor.sim.scoring import ScenarioSummary, summarise, totals


def _fmt(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _signed(x: float) -> str:
    """``+2`` for a whole number of seconds, ``+2.5`` otherwise (never rounded to the target).

    >>> _signed(2.0), _signed(2.5), _signed(-1.0)
    ('+2', '+2.5', '-1')
    """
    return f"{x:+.0f}" if float(x).is_integer() else f"{x:+.1f}"


def _cell(s: ScenarioSummary) -> str:
    if s.expected is None:
        return f"[{'red' if s.false_actions else 'green'}]{s.false_actions} false[/]"
    live = s.runs - s.preempted
    colour = "green" if s.detected == live and s.correct == live else "yellow"
    text = f"[{colour}]{s.detected}/{live} det, {s.correct} ok[/]"
    if s.needs_attribution:
        text += f", seg {s.attributed}/{s.runs}"
    if s.median_delay is not None:
        text += f"\nmedian {s.median_delay:.0f} s"
        if s.policy == "core" and s.median_over_for is not None:
            text += f" (for{_signed(s.median_over_for)})"
    if s.false_actions:
        text += f"\n[red]{s.false_actions} early[/]"
    if s.preempted:
        text += f"[red] ({s.preempted} runs ended early)[/]"
    return text


def table(results: list[RunResult]) -> Table:
    summary = summarise(results)
    scenarios = list(dict.fromkeys(r.scenario for r in results))
    seeds = len({r.seed for r in results})
    tbl = Table(title=f"Detection quality, {seeds} seeds per scenario (event time)")
    tbl.add_column("scenario")
    tbl.add_column("expected")
    for policy in POLICIES:
        tbl.add_column(policy)
    tbl.add_column(f"core speed-up vs {REFERENCE}\n(medians; paired)")
    tbl.add_column("core first actions")
    for name in scenarios:
        core = summary[(name, "core")]
        acts = ", ".join(f"{a}x{n}" for a, n in sorted(core.actions.items()))
        tbl.add_row(
            name,
            core.expected or "none",
            *(_cell(summary[(name, p)]) if (name, p) in summary else "n/a" for p in POLICIES),
            _speedup(
                summary.get((name, REFERENCE)), core, [r for r in results if r.scenario == name]
            ),
            acts or "-",
        )
    return tbl


REFERENCE = "flagger-style"
"""The interval-polling reference the issue's speed-up target is stated against."""


def _speedup(ref: ScenarioSummary | None, core: ScenarioSummary, results: list[RunResult]) -> str:
    """Reference median delay / core median delay, and the median of per-run ratios."""
    if ref is None or ref.median_delay is None or not core.median_delay:
        return "-"
    paired = paired_speedup(results, REFERENCE)
    return f"{ref.median_delay / core.median_delay:.1f}x; " + (
        "-" if paired is None else f"{paired:.1f}x"
    )


def totals_table(results: list[RunResult]) -> Table:
    tbl = Table(title="Totals")
    for col in (
        "policy",
        "false actions / clean rollout-hour",
        "missed sustained (live runs)",
        "pre-empted",
        "wrong action",
        "median delay (s)",
        "median delay - for (s)",
        "delay vs core",
    ):
        tbl.add_column(col)
    core = totals(results, "core")
    for policy in POLICIES:
        t = totals(results, policy)
        ratio = (
            f"{t.median_delay / core.median_delay:.1f}x"
            if t.median_delay and core.median_delay
            else "-"
        )
        tbl.add_row(
            policy,
            f"{t.false_per_hour:.3f} ({t.false_actions} in {t.clean_hours:.1f} h)",
            f"{t.missed_sustained}/{t.sustained_runs - t.preempted}",
            str(t.preempted),
            str(t.wrong_action),
            _fmt(t.median_delay),
            "-" if t.median_over_for is None else _signed(t.median_over_for),
            ratio,
        )
    return tbl


def paired_speedup(results: list[RunResult], reference: str) -> float | None:
    """Median over runs detected by both of (reference delay / core delay)."""
    from monitor.sim.scoring import score_run

    ratios: list[float] = []
    for r in results:
        a, b = score_run(r, "core"), score_run(r, reference)
        if a.delay_s and b.delay_s and a.delay_s > 0:
            ratios.append(b.delay_s / a.delay_s)
    return statistics.median(ratios) if ratios else None


def print_report(results: list[RunResult], console: Console | None = None) -> None:
    console = console or Console()
    console.print(table(results))
    console.print(totals_table(results))
    for ref in POLICIES[1:]:
        speed = paired_speedup(results, ref)
        if speed is not None:
            console.print(f"paired median speed-up of core over {ref}: {speed:.1f}x")
    mine, theirs = totals(results, "core"), totals(results, REFERENCE)
    if mine.median_delay and theirs.median_delay:
        console.print(
            f"core vs {REFERENCE}: median delay {mine.median_delay:.0f} s vs "
            f"{theirs.median_delay:.0f} s = {theirs.median_delay / mine.median_delay:.1f}x "
            f"faster, at {mine.false_per_hour:.3f} vs {theirs.false_per_hour:.3f} false "
            "actions per clean rollout-hour"
        )
    if mine.median_over_for is not None and theirs.median_delay:
        # the target: a decision within 2 s of event time after the rule's own `for`
        console.print(
            f"core median delay - the deciding rule's `for`: {_signed(mine.median_over_for)} s "
            f"(target <= +2 s) beside {REFERENCE}'s median delay {theirs.median_delay:.0f} s"
        )
        summary = summarise(results)
        over = [
            (s.median_over_for, name)
            for (name, policy), s in summary.items()
            if policy == "core" and s.median_over_for is not None
        ]
        above = sorted((x, name) for x, name in over if x > 2.0)
        text = f"scenarios within for + 2 s (median): {len(over) - len(above)} of {len(over)}"
        if above:
            listed = ", ".join(f"{name} {_signed(x)} s" for x, name in above)
            text += f"; above: {listed}\n(why each waits: docs/detection.md, 'Delay past `for`')"
        console.print(text)
    events = sum(r.events for r in results)
    elapsed = sum(r.elapsed_s for r in results)
    console.print(
        f"{len(results)} runs, {events:,} events, {events / max(elapsed, 1e-9):,.0f} events/s "
        "through simulator + core + references (per process)"
    )


def plot(results: list[RunResult], path: Path) -> Path:
    """Median detection delay per scenario and policy, and false actions per clean hour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarise(results)
    scenarios = [
        n for n in dict.fromkeys(r.scenario for r in results) if summary[(n, "core")].expected
    ]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.27
    colours = {"core": "#1f77b4", "flagger-style": "#ff7f0e", "kayenta-style": "#2ca02c"}
    for i, policy in enumerate(POLICIES):
        xs = [j + (i - 1) * width for j in range(len(scenarios))]
        ys = [
            (summary[(n, policy)].median_delay or 0.0) if (n, policy) in summary else 0.0
            for n in scenarios
        ]
        ax1.bar(xs, ys, width, label=policy, color=colours[policy])
    ax1.set_xticks(range(len(scenarios)))
    ax1.set_xticklabels(scenarios, rotation=35, ha="right", fontsize=8)
    ax1.set_ylabel("median detection delay after onset (s, event time)")
    ax1.set_title("Detection delay (missing bar: never detected)")
    ax1.legend()
    rates = [totals(results, p).false_per_hour for p in POLICIES]
    ax2.bar(list(POLICIES), rates, color=[colours[p] for p in POLICIES])
    ax2.set_ylabel("false actions per clean rollout-hour")
    ax2.set_title("False actions")
    ax2.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
