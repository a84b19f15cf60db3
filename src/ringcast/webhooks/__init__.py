"""Outbound webhooks: payloads, signatures, and (with dispatch) delivery."""
