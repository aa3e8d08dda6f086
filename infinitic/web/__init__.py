"""The dashboard: see and steer workflows in a browser (docs/dashboard.md).

Needs the `dashboard` extra (Starlette and uvicorn): ``pip install 'infinitic[dashboard]'``.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
