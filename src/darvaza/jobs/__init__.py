"""The job queue and its worker: upkeep that runs itself, retried, leased, never lost."""
