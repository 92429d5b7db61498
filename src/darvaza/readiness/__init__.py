"""Readiness: may the platform go live? The V1 proofs, computed from recorded evidence
and live state, and the exemptions that stand in for a proof for a while."""
