"""The append-only audit log every domain writes to: appended without waiting, sealed by
one sealer in signed checkpoints."""
