"""The interface styles of docs/typing.md run end to end, and a worker refuses at load an
implementation whose methods differ from its interface's, naming both."""

from __future__ import annotations

from typing import Any

import pytest

from infinitic import ConfigError, InfiniticWorker
from tests.config import interface_styles as styles

MODULE = "tests.config.interface_styles"


def _service(name: str, cls: str) -> dict[str, Any]:
    return {"name": name, "class": f"{MODULE}.{cls}"}


def test_each_interface_style_runs() -> None:
    config = {
        "name": "styles",
        "services": [
            _service("AbstractHello", "AbstractHelloImpl"),
            _service("ProtocolHello", "ProtocolHelloImpl"),
            _service("RaisingHello", "RaisingHelloImpl"),
        ],
        "workflows": [{"name": "Greeter", "class": f"{MODULE}.GreeterImpl"}],
    }
    with InfiniticWorker.from_config(config) as worker:
        worker.start()
        client = worker.client
        assert client.new_service(styles.AbstractHello).greet("ann") == "hello ann!"
        assert client.new_service(styles.ProtocolHello).greet("bob") == "hi bob"
        handle = client.dispatch(client.new_service(styles.RaisingHello).greet, "cy")
        assert handle.result(timeout=30) == "hey cy"
        assert client.new_workflow(styles.Greeter).run("dee") == "hello dee?"
        # the signatures take `type[T] | Callable[..., T]` for mypy's sake: a class is required
        with pytest.raises(TypeError, match="expected an interface class"):
            client.new_service(styles.AbstractHelloImpl().greet)


@pytest.mark.parametrize("interface", ["AbstractHello", "ProtocolHello", "RaisingHello"])
def test_an_interface_given_as_the_class_is_refused(interface: str) -> None:
    with pytest.raises(ConfigError, match="is the service's interface"):
        InfiniticWorker.from_config({"services": [_service(interface, interface)]})


@pytest.mark.parametrize(
    ("cls", "fragment"),
    [
        (
            "RenamedParameter",
            f"{MODULE}.RenamedParameter.greet(name: str, punctuation: str = '!') -> str differs "
            f"from the interface's {MODULE}.AbstractHello.greet(who: str, punctuation: str = '!') -> str",
        ),
        ("MissingDefault", "greet(who: str, punctuation: str) -> str differs"),
        ("OtherAnnotation", "greet(who: int, punctuation: str = '!') -> str differs"),
    ],
)
def test_a_different_signature_is_refused_naming_both(cls: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        InfiniticWorker.from_config({"services": [_service("AbstractHello", cls)]})
    message = str(info.value)
    assert message.startswith("<dict>: services[0].class: ")
    assert fragment in message


def test_annotations_may_be_omitted_by_the_implementation() -> None:
    worker = InfiniticWorker.from_config({"services": [_service("AbstractHello", "Unannotated")]})
    worker.close()


def test_a_method_left_unimplemented_is_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=f"{MODULE}.Unimplemented does not implement {MODULE}.RaisingHello.greet",
    ):
        InfiniticWorker.from_config({"services": [_service("RaisingHello", "Unimplemented")]})


def test_a_workflow_with_a_different_signature_is_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=r"workflows\[0\]\.class: .*ExtraParameter\.run\(who: str, again: bool\) -> str differs from the interface's .*Greeter\.run\(who: str\) -> str",
    ):
        InfiniticWorker.from_config(
            {"workflows": [{"name": "Greeter", "class": f"{MODULE}.ExtraParameter"}]}
        )


def test_every_class_error_of_a_config_is_reported_at_once() -> None:
    config = {
        "services": [
            _service("AbstractHello", "RenamedParameter"),
            _service("RaisingHello", "RaisingHelloImpl"),
            {"name": "Echo", "class": "tests.no_such_module.X"},
        ],
        "workflows": [{"name": "Greeter", "class": f"{MODULE}.ExtraParameter"}],
    }
    with pytest.raises(ConfigError) as info:
        InfiniticWorker.from_config(config)
    assert str(info.value).startswith("<dict>: 3 errors\n")
    assert [e.split(": ", 2)[1] for e in info.value.errors] == [
        "workflows[0].class",
        "services[0].class",
        "services[2].class",
    ]
