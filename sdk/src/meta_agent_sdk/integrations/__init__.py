"""Optional integrations; each imports its framework only when it is itself imported."""
