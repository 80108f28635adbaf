"""The model registry: build a model of the zoo by name, as the CLI and checkpoints do.

A builder is any callable that takes keyword arguments and returns a Module; decorating it
with ``@register_model("name")`` makes ``get_model("name", **kwargs)`` call it. Models keep
their constructor arguments in a JSON-able ``config`` dict and their registry name in
``model_name``, so ``get_model(model.model_name, **model.config)`` rebuilds the same
architecture (a checkpoint stores both next to the weights).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

Builder = TypeVar("Builder", bound=Callable[..., Any])

_REGISTRY: dict[str, tuple[Callable[..., Any], str]] = {}


def _key(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: a model name must be a non-empty string, got {name!r}")
    return name.strip().lower()


def _first_line(doc: str | None) -> str:
    lines = inspect.cleandoc(doc or "").splitlines()
    return lines[0].strip() if lines else ""


def register_model(name: str, *, description: str | None = None) -> Callable[[Builder], Builder]:
    """Decorator that adds a model builder to the registry under ``name`` (case-insensitive).

    Args:
        name: the registry name, e.g. ``"mlp"``.
        description: one line for :func:`list_models` (default: the first line of the
            builder's docstring).

    Returns:
        The decorator; it returns the builder unchanged.

    Raises:
        ValueError: when ``name`` is already taken by a different builder.
    """
    key = _key(name, "register_model")

    def decorate(builder: Builder) -> Builder:
        if not callable(builder):
            raise TypeError(f"register_model({name!r}): expected a callable builder, got {type(builder).__name__}")
        previous = _REGISTRY.get(key)
        # re-registering the same function (a module reloaded in a notebook) is harmless
        if previous is not None and _qualified(previous[0]) != _qualified(builder):
            raise ValueError(f"register_model: the name {key!r} is already taken by {_qualified(previous[0])}; "
                             "choose another name")
        _REGISTRY[key] = (builder, description if description is not None else _first_line(builder.__doc__))
        return builder

    return decorate


def _qualified(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def list_models() -> list[tuple[str, str]]:
    """Every registered model as ``(name, one-line description)``, sorted by name."""
    return [(name, description) for name, (_, description) in sorted(_REGISTRY.items())]


def get_builder(name: str) -> Callable[..., Any]:
    """The builder registered as ``name`` (ValueError listing the names for an unknown one)."""
    key = _key(name, "get_model")
    if key not in _REGISTRY:
        available = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise ValueError(f"get_model: unknown model {name!r}; available models: {available}")
    return _REGISTRY[key][0]


def get_model(name: str, **kwargs: Any) -> Any:
    """Build the model registered as ``name`` with the builder's keyword arguments.

    Args:
        name: a registry name (case-insensitive), e.g. ``"mlp"``.
        **kwargs: passed to the builder, e.g. ``hidden_sizes=(128,)``.

    Raises:
        ValueError: for an unknown name; the message lists the available names.
        TypeError: for keyword arguments the builder does not accept; the message lists those it does.
    """
    key = _key(name, "get_model")
    builder = get_builder(name)
    try:
        signature = inspect.signature(builder)
    except (TypeError, ValueError):  # some builtins have no signature; let the call report
        signature = None
    if signature is not None:
        try:
            signature.bind(**kwargs)
        except TypeError as exc:
            accepted = ", ".join(p for p in signature.parameters if p != "self")
            raise TypeError(f"get_model({key!r}): {exc}; the builder accepts: {accepted}") from None
    return builder(**kwargs)
