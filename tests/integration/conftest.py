"""Integration tests share the store fixtures of tests/conftest.py."""
