"""Grafana dashboards, Prometheus rules and Grafana provisioning for rollguard, as code.

See dashboards/README.md. Nothing here runs at import time.
"""
