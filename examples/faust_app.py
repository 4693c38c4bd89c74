"""A small faust app of its own, with rollguard added by one call.

The app counts fills per venue from its own ``shop.fills`` topic (its agent and Table are
the kind a team already runs); ``install`` adds rollguard's agents, state table, timers and
routes beside them. Run it against the dev broker (or any Kafka) from the repository root::

    rollguard dev broker start && rollguard topics create
    mkdir -p ~/.rollguard
    rollguard keys generate --role worker --key-id shop-1 --rollout 'latency_regression' \
      --out ~/.rollguard/shop.key.json --ring ~/.rollguard/ring.json
    rollguard keys generate --role operator --name ana --key-id ana-1 \
      --out ~/.rollguard/ana.key.json --ring ~/.rollguard/ring.json
    export ROLLGUARD_SIGNING_KEY_FILE=~/.rollguard/shop.key.json
    export ROLLGUARD_TRUSTED_KEYS_FILE=~/.rollguard/ring.json
    export ROLLGUARD_OPERATOR_KEY_FILE=~/.rollguard/ana.key.json   # signs the plan events
    python -m faust -A examples.faust_app worker -l info --web-port 6066

then feed it (``rollguard simulate -s latency_regression --kafka --now --speed 10``), and
watch ``rollguard tail``, ``rollguard status``, ``curl localhost:6066/rollouts``,
``curl localhost:6066/verdict/latency_regression`` and ``curl localhost:6066/metrics``.

Environment: ``ROLLGUARD_BOOTSTRAP`` (default: the running dev broker),
``ROLLGUARD_TOPIC_PREFIX``, ``ROLLGUARD_SIGNING_KEY_FILE`` and ``ROLLGUARD_TRUSTED_KEYS_FILE``,
``ROLLGUARD_PLANS`` (plan files or directories, ``:``-separated; default the examples),
``ROLLGUARD_FAUST_APP_ID`` (the app's id, so its consumer group: default ``shop``),
``ROLLGUARD_FAUST_PARTITIONS`` (of the app's own topics: default 4),
``ROLLGUARD_FAUST_DATADIR`` (faust's data directory: default ``~/.cache/rollguard/faust/<id>``),
``ROLLGUARD_FAUST_SESSION_TIMEOUT_S`` (how soon the group gives a dead worker's partitions to
another: default 10 s), ``ROLLGUARD_SILENCE_AFTER_S``, ``ROLLGUARD_CHECKPOINT_INTERVAL_S``.
"""

from __future__ import annotations

import os
from pathlib import Path

import faust

from monitor.faust import FaustSettings, install

HERE = Path(__file__).resolve().parent


def _bootstrap() -> str:
    explicit = os.environ.get("ROLLGUARD_BOOTSTRAP")
    if explicit:
        return explicit
    from monitor import devbroker

    running = devbroker.load_running()
    if running is None:
        raise SystemExit(
            "no Kafka: set ROLLGUARD_BOOTSTRAP=host:port or run `rollguard dev broker start`"
        )
    return running.bootstrap


def _plans() -> tuple[Path, ...]:
    listed = os.environ.get("ROLLGUARD_PLANS")
    if listed:
        return tuple(Path(p) for p in listed.split(os.pathsep) if p)
    return (HERE / "plans" / "broker-bridge.yaml", HERE / "rules" / "broker-gates.yaml")


APP_ID = os.environ.get("ROLLGUARD_FAUST_APP_ID", "shop")
DATADIR = Path(  # outside the working tree
    os.environ.get("ROLLGUARD_FAUST_DATADIR")
    or Path.home() / ".cache" / "rollguard" / "faust" / APP_ID
)
DATADIR.parent.mkdir(parents=True, exist_ok=True)  # faust makes only the last level
SESSION_TIMEOUT_S = float(os.environ.get("ROLLGUARD_FAUST_SESSION_TIMEOUT_S", "10"))
app = faust.App(
    APP_ID,
    broker=f"kafka://{_bootstrap()}",
    store="memory://",
    topic_partitions=int(os.environ.get("ROLLGUARD_FAUST_PARTITIONS", "4")),
    datadir=DATADIR,
    broker_session_timeout=SESSION_TIMEOUT_S,
    broker_heartbeat_interval=min(3.0, SESSION_TIMEOUT_S / 6),
)


class Fill(faust.Record, serializer="json"):
    venue: str
    qty: float


fills = app.topic("shop.fills", key_type=str, value_type=Fill, internal=True)  # faust creates it
filled_qty = app.Table("shop-filled-qty", default=float)


@app.agent(fills)
async def count_fills(stream: faust.StreamT[Fill]) -> None:
    """The team's own agent: filled quantity per venue (fills are keyed by venue)."""
    async for fill in stream:
        filled_qty[fill.venue] += fill.qty


rollguard = install(app, FaustSettings.from_env(plan_paths=_plans()))
