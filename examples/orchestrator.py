"""An example orchestrator: obey rollguard's control topic, verified and exactly once.

It only logs what a real deploy tool would do (shift traffic, revert routing, cancel and
flatten). Replace ``act`` with calls to your deploy tooling, router or feature-flag service.

It holds public keys only (the trusted key ring): it can verify every command and sign
none. Run it next to the dev broker::

    export ROLLGUARD_TRUSTED_KEYS_FILE=/etc/rollguard/trusted-keys.json   # public keys
    python examples/orchestrator.py --bootstrap 127.0.0.1:9092 --state /tmp/deployer.sqlite

then, in another terminal, ``rollguard kill payments-router`` with your operator key
(``ROLLGUARD_OPERATOR_KEY_FILE``). SASL/TLS settings
come from ``ROLLGUARD_KAFKA_*`` (see ``docs/security.md``). Prometheus metrics of the
client (``rollguard_client_rejected_total{reason}``, ...) are served on ``--metrics-port``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from monitor.orchestrators import ClientConfig, ControlClient, KafkaSecurity, trusted_keys
from topics.commands import Command

log = logging.getLogger("example-orchestrator")

WHAT_TO_DO = {
    "halt": "KILL SWITCH: stop all new orders on the new path, cancel open orders, flatten",
    "rollback": "route 100% of traffic back to the baseline, scale the canary to zero",
    "freeze": "freeze routing changes (no switching between paths) until resumed",
    "pause": "stop increasing traffic; keep the current share",
    "reduce_scope": "drop the canary back to the previous, smaller step or segment",
    "hold": "keep everything as it is (inconclusive)",
    "promote": "move to the next traffic step",
    "proceed": "carry on with the current step",
    "resume": "a human cleared it: continue from where it stopped",
}


def act(command: Command) -> None:
    """The orchestrator's side effect. Raise to have the command retried."""
    scope = "EVERY rollout" if command.rollout_id == "*" else f"rollout {command.rollout_id}"
    log.warning(
        "would %s for %s (stage %s): %s [command %s from %s, reason: %s]",
        command.action.upper(),
        scope,
        command.stage,
        WHAT_TO_DO[command.action],
        command.command_id,
        command.issuer,
        command.reason,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="rollguard.control")
    parser.add_argument("--group", default="example-orchestrator")
    parser.add_argument("--state", default="example-orchestrator.sqlite")
    parser.add_argument("--metrics-port", type=int, default=0, help="0: no metrics server")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # connection chatter

    config = ClientConfig(
        bootstrap=args.bootstrap,
        control_topic=args.topic,
        group_id=args.group,
        state_path=args.state,
        kafka_options=KafkaSecurity.from_env().kafka_python(),
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with ControlClient(config, trusted_keys(), act) as client:
        if args.metrics_port:
            from prometheus_client import start_http_server

            start_http_server(args.metrics_port, addr="127.0.0.1", registry=client.metrics.registry)
        log.info("listening on %s as %s", args.topic, args.group)
        client.run(stop)


if __name__ == "__main__":
    main()
