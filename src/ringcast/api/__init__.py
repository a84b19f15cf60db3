"""The HTTP server: one app, one surface per API dialect."""
