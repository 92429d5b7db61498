"""Exports: CSV files of a tenant's payments, subscribers and download log, and of the
audit log, made by a job, stored privately and fetched through short-lived links."""
