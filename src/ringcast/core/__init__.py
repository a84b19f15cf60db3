"""The pure scheduling core: no I/O, no wall clock, no randomness of its own.

Everything here takes the current time as an argument. The real-time worker and the
virtual-time forecast drive the same functions; only the clock and the store differ.
"""
