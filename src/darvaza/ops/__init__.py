"""Health, readiness and metrics: how the platform reports on itself."""
