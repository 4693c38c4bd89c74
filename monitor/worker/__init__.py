"""The stream worker's parts (``rollguard worker``): small modules wired by :mod:`.app`.

- :mod:`.settings` — everything a worker is configured with, validated once;
- :mod:`.envelope` — the internal batch envelope on the ``by_rollout`` topic: its wire form;
- :mod:`.take` — taking an envelope record: dedupe, validation, dead letters, refusal;
- :mod:`.ingest` — raw telemetry → validate → DLQ or re-key by rollout (repartition);
- :mod:`.processor` — ``by_rollout`` → core → publish; restore → seek → resume;
- :mod:`.applied` — one round's taken events, and the dead letters and acks that follow;
- :mod:`.partition` — an owned ``by_rollout`` partition's state, to and from checkpoints;
- :mod:`.checkpoint` — core state to and from the compacted ``state`` topic;
- :mod:`.publisher` — sign and publish commands, acked before they count;
- :mod:`.silence` — the one wall-clock use: variants that stopped reporting;
- :mod:`.reading` — whether the worker can read: proof of complete input, broker outages;
- :mod:`.producer` — the idempotent producer, watched for the failure it never recovers from;
- :mod:`.metrics` — its Prometheus metrics (the names dashboards are written against);
- :mod:`.http` — ``/metrics``, ``/healthz``, ``/rollouts/{id}``, verdict routes.

The aiokafka clients are typed in :mod:`monitor.edge.clients` (the status readers use them too).
"""
