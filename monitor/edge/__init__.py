"""What every Kafka-facing part shares: connection security (:mod:`.kafka_options`), the
aiokafka clients typed (:mod:`.clients`), a quick "is a broker there at all" (:mod:`.reach`)
and bounded log volume (:mod:`.logs`). Imports nothing else of ``monitor``."""
