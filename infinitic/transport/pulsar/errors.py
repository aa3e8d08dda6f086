"""The Pulsar transport's errors: each names the URL and the setting to check, never a credential."""

from __future__ import annotations

from ...errors import InfiniticError


class PulsarTransportError(InfiniticError):
    """Pulsar refused an operation (the message names which, never a credential)."""


class PulsarConnectionError(PulsarTransportError):
    """The broker (binary protocol or admin REST API) could not be reached or talked to."""


class PulsarAuthenticationError(PulsarConnectionError):
    """The broker refused the configured credentials ("authentication failed")."""


class PulsarTlsError(PulsarConnectionError):
    """The TLS handshake failed: the broker's certificate is not trusted, or TLS is misconfigured."""


class PulsarAdminError(PulsarConnectionError):
    """The admin REST API refused a request or could not be reached."""
