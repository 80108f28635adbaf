"""Containers: Sequential, ModuleList and ModuleDict.

They hold sub-modules as attributes named ``"0"``, ``"1"``, ... (or by key), so parameter
names come out as in PyTorch (``0.weight``, ``layers.2.bias``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

from lucidnn.nn.module import Module


def _check_module(value: Any, where: str) -> Module:
    if not isinstance(value, Module):
        raise TypeError(f"{where}: expected a Module, got {type(value).__name__}")
    return value


def _check_name(container: Module, key: Any, kind: str) -> None:
    if not isinstance(key, str) or not key or "." in key:
        raise KeyError(f"{kind}: names must be non-empty strings without '.', got {key!r}")
    if hasattr(container, key) and not isinstance(getattr(container, key), Module):
        raise KeyError(f"{kind}: the name {key!r} is taken by an attribute of the container; choose another")


class Sequential(Module):
    """Modules applied one after the other: ``y = m_k(...m_2(m_1(x)))``.

    Args:
        *modules: the layers in order, or one OrderedDict mapping names to layers.
    """

    def __init__(self, *modules: Any) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, module in modules[0].items():
                _check_name(self, name, "Sequential")
                setattr(self, str(name), _check_module(module, f"Sequential[{name!r}]"))
        else:
            for i, module in enumerate(modules):
                setattr(self, str(i), _check_module(module, f"Sequential[{i}]"))

    def _layers(self) -> list[Module]:
        return [m for _, m in self.named_children()]

    def forward(self, x: Any) -> Any:
        for module in self._layers():
            x = module(x)
        return x

    def append(self, module: Module) -> Sequential:
        setattr(self, str(len(self)), _check_module(module, "Sequential.append"))
        return self

    def __getitem__(self, index: int | slice) -> Any:
        layers = self._layers()
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[index]

    def __len__(self) -> int:
        return len(self._layers())

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers())


class ModuleList(Module):
    """A list of sub-modules whose parameters the parent module sees (a plain list hides them)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        self._size = 0
        self.extend(modules)

    def _items(self) -> list[Module]:
        return [getattr(self, str(i)) for i in range(self._size)]

    def append(self, module: Module) -> ModuleList:
        setattr(self, str(self._size), _check_module(module, "ModuleList.append"))
        self._size += 1
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        items = self._items()
        items.insert(index, _check_module(module, "ModuleList.insert"))
        self._reset(items)

    def _reset(self, items: list[Module]) -> None:
        for i in range(self._size):
            delattr(self, str(i))
        self._size = 0
        self.extend(items)

    def __getitem__(self, index: int | slice) -> Any:
        items = self._items()
        return ModuleList(items[index]) if isinstance(index, slice) else items[index]

    def __setitem__(self, index: int, module: Module) -> None:
        items = self._items()
        items[index] = _check_module(module, "ModuleList[...] =")
        self._reset(items)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Module]:
        return iter(self._items())

    def forward(self, *args: Any) -> Any:
        raise TypeError("ModuleList is a container, not a layer; call its elements")


class ModuleDict(Module):
    """A dict of sub-modules (string keys) whose parameters the parent module sees."""

    def __init__(self, modules: dict | None = None) -> None:
        super().__init__()
        self._keys: list[str] = []
        for key, module in (modules or {}).items():
            self[key] = module

    def __setitem__(self, key: str, module: Module) -> None:
        _check_name(self, key, "ModuleDict")
        setattr(self, key, _check_module(module, f"ModuleDict[{key!r}]"))
        if key not in self._keys:
            self._keys.append(key)

    def __getitem__(self, key: str) -> Module:
        if key not in self._keys:
            raise KeyError(f"ModuleDict has no key {key!r}; keys: {self._keys}")
        return getattr(self, key)

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    def keys(self) -> list[str]:
        return list(self._keys)

    def values(self) -> list[Module]:
        return [getattr(self, k) for k in self._keys]

    def items(self) -> list[tuple[str, Module]]:
        return [(k, getattr(self, k)) for k in self._keys]

    def forward(self, *args: Any) -> Any:
        raise TypeError("ModuleDict is a container, not a layer; call its elements")
