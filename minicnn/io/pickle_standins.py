"""The objects a restricted unpickler hands out instead of real Python globals.

``find_class`` returns these, so they are the only things a hostile pickle can touch.
The pickle can do two things with an object: *call* it (``REDUCE``) and *modify* it
(``BUILD``). ``BUILD`` is the sneaky one: unless the object defines ``__setstate__``,
it writes straight into ``obj.__dict__`` -- bypassing a frozen dataclass -- and it may
also target an allowed *function* (writing into the function's ``__dict__``) or a real
class whose ``__setstate__`` trusts its input (NumPy's dtype ``__setstate__`` accepts
flags that make it read raw bytes as object pointers: a crash, or worse).

So every stand-in is ``Frozen``: its ``__setstate__`` refuses, and a callable
stand-in is a ``SafeGlobal`` -- a slotted wrapper, no ``__dict__`` to write into.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


class BuildRefused(Exception):
    """A pickle tried to modify (``BUILD``) or misuse an allowed stand-in."""


class Frozen:
    """Mixin: pickle's ``BUILD`` opcode is refused on instances of this class."""

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise BuildRefused(f"the pickle tried to modify a {type(self).__name__} "
                           "(BUILD opcode); data files never need that")


class SafeGlobal(Frozen):
    """A callable stand-in for an allowed global: the pickle may call it, not change it.

    Args:
        fn: the safe local function that does the work.
        label: the global's name as the pickle spells it, for messages.
    """

    __slots__ = ("_fn", "label")

    def __init__(self, fn: Callable[..., Any], label: str) -> None:
        self._fn = fn
        self.label = label

    def __call__(self, *args: Any) -> Any:
        return self._fn(*args)

    def __repr__(self) -> str:
        return f"<allowed global {self.label}>"


class Marker(Frozen):
    """A named, inert stand-in for a class the pickle may only mention (never call)."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return f"<{self.label}>"
