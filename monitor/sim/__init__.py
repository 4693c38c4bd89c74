"""The Stage: a trading-telemetry simulator with fault injection, and its benchmark."""
