"""Operating the platform: smoke checks now; backups, drills, evidence and readiness later."""
