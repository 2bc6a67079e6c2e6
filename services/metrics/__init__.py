"""Metrics: folds every event into Prometheus metrics for operators' dashboards."""
