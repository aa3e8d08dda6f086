"""Worker and client configuration: frozen dataclasses, loaded from YAML or a dict."""

from .loader import load_config, load_config_file
from .model import BatchConfig, RetryConfig, ServiceConfig, WorkerConfig, WorkflowConfig

__all__ = [
    "BatchConfig",
    "RetryConfig",
    "ServiceConfig",
    "WorkerConfig",
    "WorkflowConfig",
    "load_config",
    "load_config_file",
]
