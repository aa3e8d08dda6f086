"""One module per catalog area that needs its own services or workflows.

Each module may define `SERVICES` and `WORKFLOWS`: lists of worker-config entries (like
Infinitic's register.yml) that the session worker of every home registers, next to the shared
ones of `tests.scenarios.shared`. A new area needs no edit anywhere else.
"""
