"""Plain-text screens of the fleet's rollouts for ``rollguard status`` (one per rollout, as
``kubectl argo rollouts get rollout`` shows one, and a table of all). Plain text on purpose:
the same screen reads in a terminal, a pipe, a log or a ticket; text from the topic is
stripped of control characters before it reaches the terminal."""

from __future__ import annotations

import re
import time
from typing import Final

import msgspec

from monitor.orchestrators.verdict import reading
from monitor.status.table import Known

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MARK: Final = {"failed": "✖", "inconclusive": "◌", "ok": "✔"}
UNVERIFIED: Final = (
    "(not verified: no trusted key ring; --trusted-keys or ROLLGUARD_TRUSTED_KEYS_FILE)"
)
RULE_ORDER: Final = {"firing": 0, "pending": 1, "inactive": 2}


def _clean(text: object) -> str:
    return _CONTROL.sub(" ", str(text))


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + "Z"


def outcome(known: Known) -> str:
    """How the gates read it, as the verdict routes do (dry run: advisory, never blocks)."""
    read = reading(msgspec.to_builtins(known.view), stale=known.stale)
    label = "stale" if read.stale else ("held" if read.held else read.outcome)
    if known.view.dry_run:
        return f"{MARK['ok']} advisory ({label})"
    return f"{MARK[read.outcome]} {label}"


def render_table(knowns: list[Known], *, verified: bool = True) -> str:
    """One line per rollout: NAME STAGE TRAFFIC STATUS VERDICT OUTCOME OWNER AGE."""
    head = ("NAME", "STAGE", "TRAFFIC", "STATUS", "VERDICT", "OUTCOME", "OWNER", "AGE")
    rows = [head]
    for k in knowns:
        v = k.view
        traffic = "-" if v.traffic_pct is None else f"{v.traffic_pct:g}%"
        rows.append(
            (
                v.rollout_id,
                v.stage,
                traffic,
                v.status,
                v.verdict,
                outcome(k),
                k.owner,
                f"{k.age_s:.0f}s",
            )
        )
    widths = [max(len(_clean(r[i])) for r in rows) for i in range(len(head))]
    lines = [
        "  ".join(_clean(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    if not knowns:
        lines.append("(no rollouts: no worker has published a status yet)")
    if not verified:
        lines.append(
            "(not verified: no trusted key ring; --trusted-keys or ROLLGUARD_TRUSTED_KEYS_FILE)"
        )
    return "\n".join(lines)


def render_rollout(known: Known, *, verified: bool = True) -> str:
    """One rollout's screen: stages with the current one marked, traffic, each rule's state
    and value against its threshold, sign-offs awaited, the last decisions with reasons."""
    v = known.view
    freshness = f"confirmed {known.age_s:.1f} s ago"
    if known.stale:
        freshness += f" — STALE: {known.stale_reason}"
    traffic = "-" if v.traffic_pct is None else f"{v.traffic_pct:g}%"
    out = [
        f"Name:            {v.rollout_id}",
        f"Plan:            {v.plan}  (rule set {v.rule_set_version[:12]})"
        + ("  DRY RUN (advisory)" if v.dry_run else ""),
        f"Status:          {outcome(known)}   status {v.status}   verdict {v.verdict}",
        f"Stage:           {v.stage}   traffic {traffic}   since {_when(v.stage_started_at)}",
        f"Owner:           {known.owner}, {freshness}",
        f"Event time:      {_when(v.event_time)}   events {v.counts.get('events', 0)}",
        "",
        "Stages:",
    ]
    for i, stage in enumerate(v.stage_plan or []):
        mark = "▶" if i == v.stage_index else ("✔" if i < v.stage_index else " ")
        pct = "" if stage.traffic_pct is None else f"{stage.traffic_pct:g}%"
        seg = ",".join(f"{k}={x}" for k, x in sorted((stage.segment or {}).items()))
        gates = [f"dwell {stage.min_dwell_s:g}s", f"samples {stage.min_samples}"]
        if stage.signoffs:
            gates.append("sign-offs " + ",".join(stage.signoffs))
        out.append(f"  {mark} {stage.name:<14} {pct or seg:<8} " + "  ".join(gates))
    if not v.stage_plan:
        out += [f"  {'▶' if n == v.stage else ' '} {n}" for n in v.stages]
    out += [
        "",
        "Rules (current stage):",
        "  STATE        RULE                                      VALUE        THRESHOLD",
    ]
    rules = sorted(v.rule_values, key=lambda r: (RULE_ORDER.get(r.state, 3), r.rule))
    for r in rules:
        threshold = "-" if r.threshold is None else f"{_clean(r.comparator)} {_num(r.threshold)}"
        hold = f" for {r.for_s:g}s" if r.for_s else ""
        state = r.state + ("" if r.state != "inactive" else (" ok" if r.healthy else " ?"))
        dry = "  (dry run)" if r.dry_run else ""
        out.append(
            f"  {state:<12} {_clean(r.rule)[:40]:<40}  {_num(r.value):<11}  {threshold}{hold}"
            f"  -> {r.action}{dry}"
        )
    if not rules:
        out += [f"  {state:<9} {name}" for name, state in sorted(v.rules.items())]
    out.append("")
    out.append("Sign-offs awaited: " + (", ".join(v.signoffs_awaited) or "none"))
    out.append("Sign-offs given:   " + (", ".join(v.signoffs) or "none"))
    out.append("Promotion gaps:    " + ("; ".join(_clean(g) for g in v.promotion_gaps) or "none"))
    out += ["", "Last decisions:"]
    for d in reversed(v.last_decisions):
        advisory = " (advisory)" if d.advisory else ""
        out.append(
            f"  {_when(d.issued_at)}  {d.action.upper()}{advisory}  {d.stage}  by {d.issuer}"
        )
        out.append(f"      {_clean(d.reason)[:400]}")
    if not v.last_decisions:
        out.append("  none yet")
    if not verified:
        out.append(
            "\n(not verified: no trusted key ring; --trusted-keys or ROLLGUARD_TRUSTED_KEYS_FILE)"
        )
    return "\n".join(out)
