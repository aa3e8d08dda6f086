"""One module per family of incoming messages."""
