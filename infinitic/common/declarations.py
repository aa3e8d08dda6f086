"""Whether a method is declared rather than implemented: what tells an interface from its
implementation (the service spec and the config's class checks both ask)."""

from __future__ import annotations

import dis
import inspect
from typing import Any

# what a declared-not-implemented body compiles to: `...`, a docstring, `pass`,
# `raise NotImplementedError` / `raise NotImplementedError("message")`, also inside `async def`
_DECLARATION_OPS = {
    "RESUME", "NOP", "RETURN_VALUE", "RETURN_CONST", "RETURN_GENERATOR", "POP_TOP",
    "LOAD_CONST", "LOAD_GLOBAL", "LOAD_NAME", "PUSH_NULL", "PRECALL", "CALL",
    "CALL_FUNCTION", "RAISE_VARARGS", "GEN_START", "COPY_FREE_VARS", "LOAD_COMMON_CONSTANT",
    "CALL_INTRINSIC_1", "RERAISE",  # the StopIteration guard of an `async def`
}  # fmt: skip


def has_no_body(fn: Any) -> bool:
    """True for a method declared, not implemented: abstract, `...`, or `raise NotImplementedError`."""
    if getattr(fn, "__isabstractmethod__", False):
        return True
    if not inspect.isfunction(fn):
        return False
    raises = False
    constants = []
    for ins in dis.get_instructions(fn):
        if ins.opname not in _DECLARATION_OPS:
            return False
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_COMMON_CONSTANT"):  # 3.14: the latter
            if "NotImplementedError" not in str(ins.argval):
                return False
            raises = True
        elif ins.opname in ("LOAD_CONST", "RETURN_CONST"):
            constants.append(ins.argval)
    # a constant other than None only as the message of the NotImplementedError
    return all(c is None or c is Ellipsis or (raises and isinstance(c, str)) for c in constants)
