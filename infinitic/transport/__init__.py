"""Transports carry encoded envelopes between clients, engines and executors."""
