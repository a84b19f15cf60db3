"""ringcast: a self-hostable outbound-call campaign engine for AI voice agents."""

__version__ = "0.1.0"
