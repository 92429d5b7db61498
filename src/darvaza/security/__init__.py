"""Security mechanisms every domain shares (headers now; more as the platform grows)."""
