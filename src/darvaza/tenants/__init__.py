"""Tenants and the people who run them (owners and managers)."""
