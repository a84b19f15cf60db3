"""The Volubile-compatible surface, served under /v1."""
