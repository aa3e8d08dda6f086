"""The selector modules pick the compiled kernels when they are built, and the twins otherwise."""

import importlib

import pytest

from tests.helpers.kernels import NO_EXTENSIONS, REQUIRE_EXTENSIONS

KERNELS = ["envelope", "backoff", "replay"]


@pytest.mark.parametrize("kernel", KERNELS)
def test_selector_picks_expected_implementation(kernel: str) -> None:
    selector = importlib.import_module(f"infinitic._core.{kernel}")
    if NO_EXTENSIONS:
        assert selector.IMPLEMENTATION == "py"
    elif REQUIRE_EXTENSIONS:
        assert selector.IMPLEMENTATION == "c", f"{kernel}: compiled module did not load"
    assert selector.IMPLEMENTATION in ("c", "py")
