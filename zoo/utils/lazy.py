"""Package names that load their module on first use (PEP 562), so importing a package stays light."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_names(package: str, table: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``table`` maps a public name to the module defining it.

    The first access imports that module and stores the value in the package, so later
    lookups are plain attribute reads. An unknown name raises ``AttributeError`` as usual.
    """

    def __getattr__(name: str):
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__


class LazyModule:
    """A module that is imported on its first attribute access: ``tf = LazyModule("tensorflow")`` lets a module
    whose functions use TensorFlow be imported (its settings checked, its constants read) without loading it.
    Annotations only name it (``from __future__ import annotations``)."""

    def __init__(self, name: str):
        self.__dict__["_name"] = name

    def __getattr__(self, attribute: str):
        return getattr(importlib.import_module(self.__dict__["_name"]), attribute)

    def __repr__(self) -> str:
        return f"<module {self.__dict__['_name']!r}, imported on first use>"
