"""The Apache Pulsar transport (extra `infinitic[pulsar]`): imported only when configured."""

from .settings import PulsarSettings
from .transport import PulsarTransport

__all__ = ["PulsarSettings", "PulsarTransport"]
