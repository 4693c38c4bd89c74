"""The replay report: one self-contained HTML page that answers "what happened?" first.

Rollouts that were stopped come first. Each starts with its verdict: one sentence saying
what was decided, when, by which rule, the observed value against the limit in the
signal's unit and how long it had been bad (the reason's headline, :mod:`monitor.core.
explain`), its statistics one line below, then the deciding rule's chart large
(:mod:`monitor.operators.charts`). The other rules that went pending or firing follow at a medium
size; the healthy ones are folded away, and so is the rollout's timeline of decisions and
stage changes. Plots are PNG data URIs: the file can be mailed or attached to a ticket.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from monitor.core.explain import ARROW, lines
from monitor.core.replay import ReplayResult
from monitor.core.wording import span
from topics.commands import ACTION_PRECEDENCE, Command

PAST: Final = {
    "halt": "Halted",
    "rollback": "Rolled back",
    "freeze": "Frozen",
    "pause": "Paused",
    "reduce_scope": "Scope reduced",
    "hold": "Held",
    "promote": "Promoted",
}
STOPPED: Final = {"halted": 0, "rolled_back": 1, "frozen": 2, "paused": 3, "inconclusive": 4}
STATUS_OF: Final = {
    "halt": "halted",
    "rollback": "rolled_back",
    "freeze": "frozen",
    "pause": "paused",
    "hold": "inconclusive",
}
CSS: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:14px 24px;color:#111827}
h1{font-size:20px;margin:0 0 4px} h2{font-size:19px;margin:18px 0 4px}
h3{font-size:15px;margin:14px 0 4px} .muted{color:#6b7280;font-size:13px}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #e5e7eb;padding:3px 7px;
text-align:left;vertical-align:top} section.rollout{border-top:3px solid #e5e7eb;margin-top:10px}
.verdict{font-size:17px;line-height:1.35;margin:4px 0} .stats{font-size:12px;color:#4b5563;
margin:2px 0 6px;font-family:ui-monospace,monospace} img{max-width:100%;display:block}
.outcome{font-weight:700} details{margin:6px 0} summary{cursor:pointer;font-size:14px}
"""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class RolloutStory:
    """What the report says about one rollout, in the order it says it."""

    rollout_id: str
    status: str
    stage: str
    deciding: Command | None
    verdict: str
    statistics: str
    rules_deciding: list[str] = field(default_factory=list)
    rules_active: list[str] = field(default_factory=list)
    rules_healthy: list[str] = field(default_factory=list)

    @property
    def rank(self) -> tuple[int, str]:
        """Stopped first (halted, rolled back, frozen, paused, inconclusive), then advised
        (dry-run), then running and completed ones."""
        if self.status in STOPPED:
            return STOPPED[self.status], self.rollout_id
        advised = self.deciding is not None and self.deciding.advisory
        return (5 if advised else 6 if self.status != "completed" else 7), self.rollout_id


def _deciding(status: str, commands: list[Command]) -> Command | None:
    """The command behind the rollout's outcome: the one that stopped it, else the
    strongest advice of a dry run, else none (promotions only)."""
    live = [c for c in commands if not c.advisory]
    for cmd in reversed(live):
        if STATUS_OF.get(cmd.action) == status:
            return cmd
    stops = [c for c in commands if c.action != "promote"]
    if not stops:
        return None
    rank = {a: i for i, a in enumerate(ACTION_PRECEDENCE)}
    return min(stops, key=lambda c: (rank[c.action], c.issued_at))


def story(result: ReplayResult, rollout_id: str) -> RolloutStory:
    changes = [c for c in result.stages if c.rollout_id == rollout_id]
    commands = [c for c in result.commands if c.rollout_id == rollout_id]
    status = changes[-1].status if changes else "unknown"
    stage = changes[-1].stage if changes else "-"
    first = min([c.ts for c in changes] + [c.issued_at for c in commands], default=0.0)
    deciding = _deciding(status, commands)
    if deciding is not None:
        headline, statistics = lines(deciding.reason)
        condition = headline.rsplit(f" {ARROW} ", 1)[0]
        advisory = " (advisory: dry run, nothing acted)" if deciding.advisory else ""
        by = f"by rule {deciding.rule}" if deciding.rule else "by the plan's time box"
        verdict = (
            f"{PAST[deciding.action]}{advisory} at {_iso(deciding.issued_at)} UTC, "
            f"{span(deciding.issued_at - first)} into the stream, in stage {deciding.stage}, "
            f"{by}: {condition}."
        )
    else:
        promotions = [c for c in commands if c.action == "promote"]
        path = " → ".join(dict.fromkeys([c.stage for c in changes]))
        verdict = (
            "Completed"
            if status == "completed"
            else f"Running in stage {stage} when the stream ended"
        ) + f": {len(promotions)} promotion(s) ({path}); no rule fired."
        statistics = lines(promotions[-1].reason)[0] if promotions else ""
    out = RolloutStory(rollout_id, status, stage, deciding, verdict, statistics)
    labels = sorted(label for rid, label in result.rule_info if rid == rollout_id)
    lead = deciding.rule if deciding is not None else None
    for label in labels:
        active = any(s.state != "inactive" for s in result.series[(rollout_id, label)])
        if label == lead:
            out.rules_deciding.append(label)
        elif active:
            out.rules_active.append(label)
        else:
            out.rules_healthy.append(label)
    return out


def stories(result: ReplayResult) -> list[RolloutStory]:
    """Every rollout's story, stopped ones first."""
    ids = sorted({c.rollout_id for c in result.stages} | {c.rollout_id for c in result.commands})
    return sorted((story(result, rid) for rid in ids), key=lambda s: s.rank)


def _img(png: bytes, alt: str, cls: str = "") -> str:
    data = base64.b64encode(png).decode()
    return f"<img class='{cls}' alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def _summary(result: ReplayResult, items: list[RolloutStory]) -> Iterable[str]:
    esc = html.escape
    dead = sum(result.dead.values())
    skipped = {k: v for k, v in result.counters.items() if k != "events" and v}
    yield (
        f"<p class='muted'>{len(items)} rollout(s), {result.events:,} events, "
        f"{len(result.commands)} decision(s); "
        f"{f'{dead:,} dead letters' if dead else 'no dead letters'}"
        + (
            ", not applied: " + ", ".join(f"{k} {v:,}" for k, v in skipped.items())
            if skipped
            else ""
        )
        + ". Times are event times (UTC).</p>"
    )
    yield "<table><tr><th>rollout</th><th>outcome</th><th>when (UTC)</th><th>rule</th></tr>"
    for s in items:
        d = s.deciding
        what = (PAST[d.action] + (" (advisory)" if d.advisory else "")) if d else s.status
        colour = "#d97706" if d and d.advisory else "#b30000" if s.status in STOPPED else "#15803d"
        yield (
            f"<tr><td><a href='#{esc(s.rollout_id)}'>{esc(s.rollout_id)}</a></td>"
            f"<td class='outcome' style='color:{colour}'>{esc(what)}</td>"
            f"<td>{_iso(d.issued_at) if d else '-'}</td><td>{esc(d.rule or '-') if d else '-'}"
            "</td></tr>"
        )
    yield "</table>"


def _section(result: ReplayResult, s: RolloutStory) -> Iterable[str]:
    from monitor.operators.charts import draw_grid, draw_rule  # lazy: matplotlib

    esc = html.escape
    rid = s.rollout_id
    t0 = min(result.series[(rid, label)][0].ts for (r, label) in result.rule_info if r == rid)
    deciding_id = s.deciding.command_id if s.deciding else None
    yield f"<section class='rollout' id='{esc(rid)}' data-status='{esc(s.status)}'>"
    yield f"<h2>{esc(rid)} <span class='muted'>(stage {esc(s.stage)}, {esc(s.status)})</span></h2>"
    yield f"<p class='verdict'>{esc(s.verdict)}</p>"
    if s.statistics:
        yield f"<p class='stats'>{esc(s.statistics)}</p>"
    for label in s.rules_deciding:
        png = draw_rule(result, rid, label, size="large", deciding=deciding_id, t0=t0)
        yield _img(png, f"{rid}: {label} (deciding rule)", "deciding")
    if s.rules_active:
        yield f"<h3>Other rules that were pending or firing ({len(s.rules_active)})</h3>"
        for label in s.rules_active:
            png = draw_rule(result, rid, label, size="medium", deciding=deciding_id, t0=t0)
            yield _img(png, f"{rid}: {label}", "active")
    if s.rules_healthy:
        yield (
            f"<details><summary>Healthy rules ({len(s.rules_healthy)}): never pending or "
            "firing</summary>"
        )
        yield _img(draw_grid(result, rid, s.rules_healthy, t0=t0), f"{rid}: healthy rules")
        yield "</details>"
    yield from _timeline(result, rid)
    yield "</section>"


def _timeline(result: ReplayResult, rollout_id: str) -> Iterable[str]:
    esc = html.escape
    rows: list[tuple[float, int, str]] = []
    for ch in result.stages:
        if ch.rollout_id == rollout_id:
            pct = "-" if ch.traffic_pct is None else f"{ch.traffic_pct:g} %"
            row = (
                f"<tr><td>{_iso(ch.ts)}</td><td>{esc(ch.stage)}</td>"
                f"<td>stage {esc(ch.status)} ({pct})</td><td></td></tr>"
            )
            rows.append((ch.ts, 1, row))
    for cmd in result.commands:
        if cmd.rollout_id == rollout_id:
            headline, statistics = lines(cmd.reason)
            adv = " (advisory)" if cmd.advisory else ""
            rows.append(
                (
                    cmd.issued_at,
                    0,
                    (
                        f"<tr><td>{_iso(cmd.issued_at)}</td><td>{esc(cmd.stage)}</td>"
                        f"<td><b>{esc(cmd.action)}</b>{adv}</td><td>{esc(headline)}"
                        f"<div class='stats'>{esc(statistics)}</div></td></tr>"
                    ),
                )
            )
    yield (
        f"<details><summary>Timeline: {sum(1 for r in rows if r[1] == 0)} decision(s), "
        f"{sum(1 for r in rows if r[1] == 1)} stage change(s)</summary><table><tr>"
        "<th>event time (UTC)</th><th>stage</th><th>what</th><th>reason</th></tr>"
    )
    yield from (row for _, _, row in sorted(rows, key=lambda r: (r[0], r[1])))
    yield "</table></details>"


def render_html(result: ReplayResult, title: str = "rollguard replay") -> str:
    """The whole report as one HTML string (plots embedded as data: URIs)."""
    items = stories(result)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *_summary(result, items),
    ]
    for s in items:
        if any(rid == s.rollout_id for rid, _ in result.rule_info):
            parts.extend(_section(result, s))
    parts.append(
        "<p class='muted'>Charts: red, the watched variant; blue, the baseline (variant or "
        "learned); dashed, the limit; amber and red spans, pending and firing; dotted, stage "
        "changes; vertical lines, decisions (the deciding one bold).</p></body></html>"
    )
    return "\n".join(parts)


def write_pngs(result: ReplayResult, out_dir: Path) -> list[Path]:
    """Each decided rollout's deciding chart as ``<rollout>.png`` next to the HTML report."""
    from monitor.operators.charts import draw_rule

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in stories(result):
        for label in s.rules_deciding[:1]:
            deciding = s.deciding.command_id if s.deciding else None
            path = out_dir / f"{s.rollout_id}.png"
            path.write_bytes(
                draw_rule(result, s.rollout_id, label, size="large", deciding=deciding)
            )
            paths.append(path)
    return paths
