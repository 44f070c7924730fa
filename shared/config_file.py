"""Config files are data with a schema: YAML loaded into pydantic, errors naming the key and the line."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, the key path and the line."""


class _LineLoader(yaml.SafeLoader):
    """Records the line of every mapping key so validation errors can point at it."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    lines = {str(key_node.value): key_node.start_mark.line + 1 for key_node, _ in node.value}
    return _LinedDict(mapping, lines)


class _LinedDict(dict[str, Any]):
    def __init__(self, data: dict[Any, Any], lines: dict[str, int]) -> None:
        super().__init__(data)
        self.lines = lines


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_of(data: Any, loc: tuple[int | str, ...]) -> int | None:
    """Walk the error location through the parsed document; the deepest known line wins."""
    line: int | None = None
    node = data
    for part in loc:
        if isinstance(node, _LinedDict) and isinstance(part, str) and part in node:
            line = node.lines.get(part, line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            if isinstance(node, _LinedDict) and node.lines:
                line = min(node.lines.values())
        else:
            break
    return line


def parse_yaml_model(text: str, model: type[M], *, name: str = "<config>") -> M:
    """Parse YAML text into ``model``; raise ConfigError naming the key path and line of each problem."""
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: the top level must be a mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            path = ".".join(str(p) for p in loc) or "(top level)"
            line = _line_of(data, loc)
            where = f"line {line}" if line else "line ?"
            problems.append(f"{name}:{where}: {path}: {err['msg']}")
        raise ConfigError("\n".join(problems)) from exc


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Load and validate a YAML config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    return parse_yaml_model(text, model, name=str(path))


def file_version(path: Path) -> str:
    """A short content hash, stored with every result the file produced."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
