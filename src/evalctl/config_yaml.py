"""Strict YAML for the config: duplicate keys are errors (PyYAML keeps the last silently), and
a document whose aliases would expand past a cap (an "alias bomb": gigabytes from a few lines)
is refused before any object is built."""

from __future__ import annotations

from typing import Any

import yaml

from evalctl.errors import ConfigError

MAX_YAML_NODES = 100_000  # a config expanding (through aliases) to more is refused

# libyaml's parser where PyYAML was built with it (its wheels are): the same nodes, tags and
# values as the pure-Python SafeLoader, parsed ~8x faster (the benchmark's 41-line config:
# 2-3 ms -> 0.3 ms, paid by every command)
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool | None):
                continue  # an unhashable key: PyYAML's own error names it
            if key in seen:
                raise ConfigError(f"line {key_node.start_mark.line + 1}: duplicate key "
                                  f"{key!r} (each key may appear once in a mapping)")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(text: str) -> Any:
    """Parse YAML text strictly: duplicate keys are errors, and a document whose aliases
    would expand to more than MAX_YAML_NODES nodes (an "alias bomb") is refused before any
    object is built."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_YAML_NODES:
            raise ConfigError(f"aliases expand the document to more than {MAX_YAML_NODES:,} "
                              "values; write the repeated parts out or use fewer aliases")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values the node stands for once every alias is expanded (capped: counting
    stops past the limit, and a node that contains itself counts as too many)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    if isinstance(node, yaml.ScalarNode):
        return 1
    sizes[id(node)] = MAX_YAML_NODES + 1  # in progress: a recursive alias is too many
    children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                else list(node.value))
    total = 1
    for child in children:
        total += _expanded_size(child, sizes)
        if total > MAX_YAML_NODES:
            break
    sizes[id(node)] = total
    return total
