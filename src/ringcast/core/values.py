"""Frozen value types that are quick to build.

A frozen dataclass's ``__init__`` sets each field with ``object.__setattr__`` (its own
``__setattr__`` refuses), a call per field. The values a planning step and a call's end
make (attempts, contacts, dials, a step's writes, a call's result) have up to twenty
fields and the forecast makes several per attempt, so ``quick_init`` gives them an
``__init__`` with the same signature that writes the instance's ``__dict__`` directly.
The instances are the same: same fields, equality, hash, ``repr`` and refusal to be
changed afterwards.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, TypeVar

T = TypeVar("T")

_NO_VALUE = object()  #: a parameter whose default comes from a factory


def quick_init(cls: type[T]) -> type[T]:
    """Give the frozen dataclass ``cls`` an equivalent ``__init__`` that fills its
    ``__dict__``. A class this cannot mirror exactly (with ``__slots__``, a
    ``__post_init__``, keyword-only or non-init fields, init-only variables) is returned
    unchanged; one that is not a frozen dataclass is refused."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen:
        raise TypeError(f"{cls.__name__} is not a frozen dataclass")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = [f.name for f in fields]
    signature = list(inspect.signature(cls.__init__).parameters)[1:]
    if (
        hasattr(cls, "__post_init__")
        or "__slots__" in cls.__dict__
        or signature != names
        or any(f.kw_only for f in fields)
    ):
        return cls
    scope: dict[str, Any] = {"_q_no_value": _NO_VALUE}
    args: list[str] = []
    body = ["    _q_own = self.__dict__"]
    for i, f in enumerate(fields):
        value = f.name
        if f.default is not dataclasses.MISSING:
            scope[f"_q_default_{i}"] = f.default
            args.append(f"{f.name}=_q_default_{i}")
        elif f.default_factory is not dataclasses.MISSING:
            scope[f"_q_factory_{i}"] = f.default_factory
            args.append(f"{f.name}=_q_no_value")
            value = f"_q_factory_{i}() if {f.name} is _q_no_value else {f.name}"
        else:
            args.append(f.name)
        body.append(f"    _q_own[{f.name!r}] = {value}")
    source = "\n".join([f"def __init__(self, {', '.join(args)}):", *body])
    exec(source, scope)  # noqa: S102 (the source is built from the class's own field names)
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    setattr(cls, "__init__", init)  # noqa: B010 (mypy refuses assigning a method)
    return cls
