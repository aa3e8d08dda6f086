"""The Pulsar transport's errors, defined in `infinitic.errors` with every public exception
(catching them needs neither this transport nor the `pulsar` extra); importable from here too."""

from __future__ import annotations

from ...errors import PulsarAdminError as PulsarAdminError
from ...errors import PulsarAuthenticationError as PulsarAuthenticationError
from ...errors import PulsarConnectionError as PulsarConnectionError
from ...errors import PulsarTlsError as PulsarTlsError
from ...errors import PulsarTransportError as PulsarTransportError
