import infinitic

EXPECTED = {
    "CanceledError",
    "ConfigError",
    "EnvelopeError",
    "InfiniticClient",
    "InfiniticWorker",
    "SerializationError",
    "TaskContext",
    "TaskFailedError",
    "TimeoutError",
    "UnknownWorkflowError",
    "WithRetry",
    "WithTimeout",
    "WorkflowFailedError",
    "WorkflowUpdatedError",
    "name",
    "retry",
    "task",
    "timeout",
    "Channel",
    "Deferred",
    "DeferredStatus",
    "Workflow",
    "all_of",
    "any_of",
    "batch",
    "delegated",
}


def test_public_names_are_pinned() -> None:
    assert set(infinitic.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(infinitic, name) is not None


def test_timeout_error_is_also_the_builtin() -> None:
    assert issubclass(infinitic.TimeoutError, TimeoutError)
