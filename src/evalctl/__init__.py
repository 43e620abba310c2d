"""evalctl."""
