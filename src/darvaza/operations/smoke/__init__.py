"""Black-box smoke checks against a running Darvaza: each names every deviation it finds."""
