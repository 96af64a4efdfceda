"""Named registries of components: one per kind (reaction, filter, coupling, scheme, noise,
attractors, dataset), so that a config names a class and a new class is one registration.

A component config is a mapping ``{"kind": name, **settings}``; ``registry.build(config, **context)``
calls the registered class (or factory) with the settings plus whatever context the caller
supplies (sizes, planted patterns, a generator), and the built object's ``to_config()`` returns the
same mapping, so that building and ``to_config()`` are exact inverses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Names → constructors for one kind of component.

    Args:
        kind: what the registry holds, used in error messages ("filter", "scheme", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@FILTERS.register("hill")`` above a class (or a factory function)."""

        def add(constructor: Callable[..., T]) -> Callable[..., T]:
            if not isinstance(name, str) or not name:
                raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
            if name in self._entries and self._entries[name] is not constructor:
                raise ValueError(f"a {self.kind} named {name!r} is already registered ({self._entries[name]!r})")
            if isinstance(constructor, type):
                # A class learns its own name, so that its to_config() can write {"kind": name}.
                own = constructor.__dict__.get("kind")
                if own is not None and own != name:
                    raise ValueError(f"{constructor.__name__}.kind is {own!r} but it is registered as {name!r}")
                constructor.kind = name  # type: ignore[attr-defined]
            self._entries[name] = constructor
            return constructor

        return add

    def unregister(self, name: str) -> Callable[..., T]:
        """Remove ``name`` (e.g. a component defined in a notebook or a test) and return its constructor."""
        constructor = self.get(name)
        del self._entries[name]
        return constructor

    def get(self, name: str) -> Callable[..., T]:
        """The constructor registered under ``name``; a clear error listing the choices otherwise."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}") from None

    def build(self, config: str | Mapping[str, Any], **context: Any) -> T:
        """Build from ``"name"`` or ``{"kind": "name", **settings}``, passing ``context`` as keywords."""
        if isinstance(config, str):
            name, settings = config, {}
        elif isinstance(config, Mapping):
            if "kind" not in config:
                raise ValueError(f"a {self.kind} config needs a 'kind' key naming one of {', '.join(self.names())}")
            settings = {k: v for k, v in config.items() if k != "kind"}
            name = config["kind"]
        else:
            raise ValueError(f"a {self.kind} config must be a name or a mapping, got {type(config).__name__}")
        constructor = self.get(name)
        try:
            return constructor(**settings, **context)
        except TypeError as exc:
            raise ValueError(f"invalid settings {sorted(settings)} for {self.kind} {name!r}: {exc}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"
