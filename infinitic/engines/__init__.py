"""Engines: pure state machines (state + message in, new state + messages out)."""
