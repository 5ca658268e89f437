"""A registry of plug-in classes that live one module each in a package (the kinds, the formats).

``REG = Registry[Base]("crmload.analysis.kinds")``; a module of that package decorates its class
with ``@REG.register``; :meth:`Registry.all` imports every module of the package (so that adding
a plug-in is adding a module) and returns one instance of each class, by its ``order``.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Generic, Protocol, TypeVar


class _Ordered(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def order(self) -> int: ...


T = TypeVar("T", bound=_Ordered)


class Registry(Generic[T]):
    def __init__(self, package: str) -> None:
        self.package = package
        self._found: dict[str, T] = {}

    def register(self, cls: type[T]) -> type[T]:
        """Class decorator: one instance of ``cls`` joins the registry under ``cls.name``."""
        instance = cls()
        self._found[instance.name] = instance
        return cls

    def all(self) -> list[T]:
        """Every registered plug-in of the package, in ``order`` (its modules imported on first use)."""
        module = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(module.__path__):
            importlib.import_module(f"{self.package}.{info.name}")
        return sorted(self._found.values(), key=lambda p: p.order)
