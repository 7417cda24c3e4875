"""Prometheus metrics, OpenTelemetry setup, JSON logging."""
