"""Dispatch: turning stored campaigns into calls, and call outcomes into next steps."""
