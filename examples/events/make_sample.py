"""Write examples/events/sample.jsonl.gz: a 25-minute bridge rollout whose canary regresses.

Baseline, canary and shadow flow over three regions; from minute 20 the canary's error rate
jumps to 8 % and its latency doubles. Replay it with:

    rollguard replay examples/events/sample.jsonl.gz -p examples/plans -p examples/rules
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

from monitor.sim.synthetic import StreamSpec, generate
from topics.codec import encode_event

SPEC = StreamSpec(
    seconds=1500, baseline_per_s=6, canary_per_s=3, shadow_per_s=1, regress_at=1200.0, seed=11
)


def main(out: Path) -> None:
    # mtime=0: the same events give the same bytes (reproducible file).
    with out.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        for event in generate(SPEC):
            fh.write(encode_event(event) + b"\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("sample.jsonl.gz"))
