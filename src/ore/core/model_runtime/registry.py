"""The provider registry: built-ins and plugins arrive through the same hook.

Providers are :class:`ModelAdapter` objects published under the entry-point group
``ore.providers`` (ore's own vendors are declared there in ``pyproject.toml``) or found in a
directory of modules, each exposing ``provider`` (an adapter, or a callable returning one)
or ``providers`` (a list of those). A plugin that fails to load is logged and skipped.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from ore.core.model_runtime.base import ModelAdapter
from ore.core.model_runtime.catalogue import ProviderDescriptor
from ore.core.model_runtime.errors import ModelNotFound

ENTRY_POINT_GROUP = "ore.providers"
log = logging.getLogger(__name__)


class UnknownProvider(ModelNotFound):
    """No provider of that id is registered."""


def _adapters(obj: object) -> list[ModelAdapter]:
    """Accept an adapter, a callable returning adapters, or a list of either."""
    if isinstance(obj, ModelAdapter):
        return [obj]
    if isinstance(obj, list | tuple):
        return [a for item in obj for a in _adapters(item)]
    if callable(obj):
        return _adapters(obj())
    raise TypeError(f"not a model provider: {obj!r}")


class ProviderRegistry:
    """Providers by id; later registrations of the same id replace earlier ones."""

    def __init__(self) -> None:
        self._adapters: dict[str, ModelAdapter] = {}

    def register(self, adapter: ModelAdapter) -> None:
        self._adapters[adapter.provider] = adapter

    def get(self, provider: str) -> ModelAdapter:
        """The adapter of ``provider``; :class:`UnknownProvider` (400) when none."""
        try:
            return self._adapters[provider]
        except KeyError:
            raise UnknownProvider(f"Unknown model provider: {provider}.") from None

    def __contains__(self, provider: object) -> bool:
        return provider in self._adapters

    def ids(self) -> list[str]:
        return sorted(self._adapters)

    def descriptors(self) -> list[ProviderDescriptor]:
        return [self._adapters[name].descriptor for name in self.ids()]

    def _add(self, source: str, obj: object) -> int:
        try:
            adapters = _adapters(obj)
        except Exception:
            log.exception("model provider plugin %s did not load; skipped", source)
            return 0
        for adapter in adapters:
            self.register(adapter)
        return len(adapters)

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> int:
        """Load every provider published under ``group``; returns how many were added."""
        added = 0
        for point in entry_points(group=group):
            try:
                obj = point.load()
            except Exception:
                log.exception("model provider plugin %s did not load; skipped", point.name)
                continue
            added += self._add(point.name, obj)
        return added

    def load_directory(self, path: str | Path) -> int:
        """Load ``*.py`` modules and packages in ``path`` (PROVIDER_PLUGINS_DIR)."""
        root = Path(path)
        if not root.is_dir():
            log.warning("model provider plugin directory %s does not exist", root)
            return 0
        added = 0
        for candidate in sorted(_plugin_files(root)):
            module = _import_file(candidate)
            if module is None:
                continue
            obj = getattr(module, "provider", None) or getattr(module, "providers", None)
            if obj is None:
                log.warning("model provider plugin %s exposes no `provider`; skipped", candidate)
                continue
            added += self._add(str(candidate), obj)
        return added


def _plugin_files(root: Path) -> Iterable[Path]:
    for entry in root.iterdir():
        if entry.name.startswith(("_", ".")):
            continue
        if entry.suffix == ".py":
            yield entry
        elif (entry / "__init__.py").is_file():
            yield entry / "__init__.py"


def _import_file(path: Path) -> ModuleType | None:
    name = path.parent.name if path.name == "__init__.py" else path.stem
    module_name = f"ore_provider_plugins.{name}"
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception:
        sys.modules.pop(module_name, None)
        log.exception("model provider plugin %s did not load; skipped", path)
        return None
    return module


def build_registry(plugins_dir: str | Path | None = None) -> ProviderRegistry:
    """Entry points first, then the plugin directory (which may override built-ins)."""
    registry = ProviderRegistry()
    registry.load_entry_points()
    if plugins_dir:
        registry.load_directory(plugins_dir)
    return registry


def split_model_id(model_id: str) -> tuple[str, str]:
    """``provider/model`` split at the first ``/`` (model names may contain slashes)."""
    provider, sep, model = model_id.partition("/")
    if not sep or not provider or not model:
        raise ModelNotFound(
            f"Model {model_id!r} must be written as <provider>/<model>.",
        )
    return provider, model
