"""Legacy ComfyUI group nodes (frontends before subgraphs), read into the parts a subgraph expansion uses.

``extra.groupNodes`` maps a group's name to its definition: ``nodes`` (serialised as on the clipboard, in execution
order), ``links`` as ``[origin index, origin slot, target index, target slot, origin id, type]`` with node indexes
into that list (a null origin is a link from outside, dropped), ``external`` (``[index, slot, type]``: outputs also
linked outside the group) and an optional ``config`` (``{index: {"input"|"output": {name|slot: {"name",
"visible"}}}}``). An instance's ``type`` is ``workflow>`` + name (``workflow/`` before frontend 1.2.63), and the
frontend names inner nodes ``<instance>:<index>``. What the frontend's group node code does, mirrored here:

- instance inputs, by position: every inner input not linked inside the group (plain inputs first, node by node,
  less those the config hides; then widgets converted to inputs, node by node);
- instance outputs, by position: every inner output not linked inside the group, or also linked outside (the
  config may show or hide one);
- instance widget values: each inner node's widget values in turn. Nodes the frontend has no definition for add
  nothing (notes, an unlinked PrimitiveNode, a Reroute used inside). A node with widgets converted to inputs has
  them moved after all the others on the instance (where is not knowable without node definitions), so it and the
  nodes after it keep the values the group was made with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from promptlib.metadata._util import as_list

GROUP_PREFIXES = ("workflow>", "workflow/")  # the frontend's v2 and v1 spellings of an instance's type
INPUT_BOUNDARY = "group-input"  # the origin of a link from an instance input (inner ids are indexes)
_NO_DEFINITION = frozenset({"Note", "MarkdownNote"})  # frontend-only nodes: no inputs, outputs or widgets
RawLink = tuple[str, int, str, str | None, int | None]  # origin, origin slot, type, target, target slot


@dataclass(frozen=True)
class ValueLayout:
    """Where each inner node's widget values sit in an instance's ``widgets_values``."""

    slices: tuple[tuple[int, int], ...]  # (inner index, number of values), in order
    complete: bool  # False when a node with converted widgets ended the layout early

    def split(self, values: Any) -> dict[int, list[Any]]:
        """Each inner node's values from an instance's; {} when the instance's count says the layout is wrong."""
        needed = sum(count for _index, count in self.slices)
        if not isinstance(values, list) or needed > len(values) or (self.complete and needed != len(values)):
            return {}
        out: dict[int, list[Any]] = {}
        position = 0
        for index, count in self.slices:
            out[index] = values[position : position + count]
            position += count
        return out


@dataclass(frozen=True)
class GroupParts:
    """A group definition as an expansion reads it: inner nodes with ``id`` = index and renumbered input links."""

    nodes: list[dict[str, Any]]
    links: dict[int, RawLink]
    outputs: dict[int, int]  # instance output slot -> the link from the inner output behind it
    values: ValueLayout


def read_group(item: dict[str, Any]) -> GroupParts:
    """The parts of one ``extra.groupNodes`` definition; odd entries are skipped, never fatal."""
    raw = as_list(item.get("nodes"))
    nodes = {index: node for index, node in enumerate(raw) if isinstance(node, dict)}
    links_to: dict[tuple[int, int], tuple[int, int, str]] = {}
    linked_from: set[tuple[int, int]] = set()
    for link in as_list(item.get("links")):
        if not isinstance(link, list) or len(link) < 4 or not all(_is_int(part) for part in link[:4]):
            continue  # a null origin: a link from outside the group, which the frontend drops too
        origin, slot, target, target_slot = link[:4]
        if origin in nodes and target in nodes:
            kind = link[5] if len(link) > 5 and isinstance(link[5], str) else ""
            links_to[(target, target_slot)] = (origin, slot, kind)
            linked_from.add((origin, slot))
    external = {
        (entry[0], entry[1])
        for entry in as_list(item.get("external"))
        if isinstance(entry, list) and len(entry) >= 2 and _is_int(entry[0]) and _is_int(entry[1])
    }
    raw_config = item.get("config")
    config: dict[str, Any] = raw_config if isinstance(raw_config, dict) else {}
    feeding = {origin for origin, _slot in linked_from}
    fed = {target for target, _slot in links_to}
    defined = {index for index, node in nodes.items() if _has_definition(index, node, feeding, fed, external)}

    table: dict[int, RawLink] = {}
    inner: dict[tuple[int, int], int] = {}
    for (target, target_slot), (origin, slot, link_type) in links_to.items():
        inner[(target, target_slot)] = len(table)
        table[len(table)] = (str(origin), slot, link_type, str(target), target_slot)
    plain: list[tuple[int, int, str]] = []
    converted: list[tuple[int, int, str]] = []
    for index in sorted(defined):
        for slot, entry in enumerate(as_list(nodes[index].get("inputs"))):
            if not isinstance(entry, dict) or (index, slot) in inner:
                continue
            if isinstance(entry.get("widget"), dict):
                converted.append((index, slot, _type(entry)))
            elif _setting(config, index, "input", entry.get("name"), "visible") is not False:
                plain.append((index, slot, _type(entry)))
    boundary: dict[tuple[int, int], int] = {}
    for position, (index, slot, slot_type) in enumerate(plain + converted):
        boundary[(index, slot)] = len(table)
        table[len(table)] = (INPUT_BOUNDARY, position, slot_type, str(index), slot)

    copies = [_renumbered(index, node, inner, boundary) for index, node in nodes.items()]
    outputs: dict[int, int] = {}
    for index in sorted(defined):
        for slot, entry in enumerate(as_list(nodes[index].get("outputs"))):
            shown = _setting(config, index, "output", str(slot), "visible")
            hidden = (index, slot) in linked_from and (index, slot) not in external
            if shown if isinstance(shown, bool) else not hidden:
                outputs[len(outputs)] = len(table)
                table[len(table)] = (str(index), slot, _type(entry), None, None)
    return GroupParts(copies, table, outputs, _layout(nodes, defined))


def _has_definition(
    index: int, node: dict[str, Any], feeding: set[int], fed: set[int], external: set[tuple[int, int]]
) -> bool:
    """Whether the frontend builds the group's inputs, outputs and widgets from this node (it skips virtual ones)."""
    kind = node.get("type")
    if not isinstance(kind, str) or kind in _NO_DEFINITION:
        return False
    if kind == "PrimitiveNode":
        return index in feeding  # an unlinked primitive is skipped
    if kind == "Reroute":  # one used only inside the group is skipped
        return not (index in fed and index in feeding and (index, 0) not in external)
    return True


def _renumbered(
    index: int, node: dict[str, Any], inner: dict[tuple[int, int], int], boundary: dict[tuple[int, int], int]
) -> dict[str, Any]:
    """A copy of an inner node with ``id`` = its index and each input's link pointing into the group's table."""
    copy = {**node, "id": index}
    inputs = node.get("inputs")
    if isinstance(inputs, list):
        copy["inputs"] = [
            {**entry, "link": inner.get((index, slot), boundary.get((index, slot)))}
            if isinstance(entry, dict)
            else entry
            for slot, entry in enumerate(inputs)
        ]
    return copy


def _layout(nodes: dict[int, dict[str, Any]], defined: set[int]) -> ValueLayout:
    slices: list[tuple[int, int]] = []
    for index in sorted(defined):
        node = nodes[index]
        values = node.get("widgets_values")
        converted = any(
            isinstance(entry, dict) and isinstance(entry.get("widget"), dict) for entry in as_list(node.get("inputs"))
        )
        if converted or isinstance(values, dict):
            return ValueLayout(tuple(slices), complete=False)
        if isinstance(values, list) and values:
            slices.append((index, len(values)))
    return ValueLayout(tuple(slices), complete=True)


def _setting(config: dict[str, Any], index: int, side: str, name: Any, key: str) -> Any:
    """``config[index][side][name][key]`` of a group definition, None where any step is missing or odd."""
    value: Any = config.get(str(index))
    for step in (side, name, key):
        value = value.get(step) if isinstance(value, dict) and isinstance(step, str) else None
    return value


def _type(slot: Any) -> str:
    value = slot.get("type") if isinstance(slot, dict) else None
    return value if isinstance(value, str) else ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
