"""Use cases shared by every surface (CLI, the two vendor APIs, the native API)."""
