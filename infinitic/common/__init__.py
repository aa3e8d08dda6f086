"""Messages, ids and payload serialization shared by every component."""
