"""A category tree: nodes with ids, names, levels, parents and children; lookup, validation, JSON form.

Built from label paths (``[("Food", "Fruit"), ...]`` or a level_1..level_n frame) or from a taxonomy table
(id, name, parent_id[, level]) such as the Shopify, Google and GS1 files. A *path* is the tuple of node names
from the root's child down to a node; every prediction skutag makes is checked against :meth:`is_valid_path`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from skutag.catalogue.paths import PATH_SEP, label_problem
from skutag.errors import TaxonomyError


@dataclass
class Node:
    """One category. ``level`` is 1 for top-level categories; ``parent_id`` is None for them."""

    id: str
    name: str
    level: int
    parent_id: str | None
    children: list[str] = field(default_factory=list)


class Taxonomy:
    """A validated forest of :class:`Node` (top-level nodes have no parent)."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self._nodes: dict[str, Node] = {}
        for node in nodes:
            if node.id in self._nodes:
                raise TaxonomyError(f"duplicate node id {node.id!r}")
            self._nodes[node.id] = Node(node.id, node.name, node.level, node.parent_id, [])
        self._roots: list[str] = []
        for node in self._nodes.values():
            if node.parent_id is None:
                self._roots.append(node.id)
            elif node.parent_id not in self._nodes:
                raise TaxonomyError(f"node {node.id!r} has unknown parent {node.parent_id!r}")
            else:
                self._nodes[node.parent_id].children.append(node.id)
        self._by_path: dict[tuple[str, ...], str] = {}
        self._by_name: dict[str, list[str]] = {}
        self.validate()
        for node in self._nodes.values():
            self._by_path[self.path(node.id)] = node.id
            self._by_name.setdefault(node.name.casefold(), []).append(node.id)

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_paths(cls, paths: Iterable[Sequence[object]]) -> Taxonomy:
        """A tree holding every prefix of every path; empty/None trailing levels end a path early.

        Raises :class:`TaxonomyError` for a name that :func:`~skutag.catalogue.paths.label_problem` refuses
        (one holding the path separator would make two paths share node ids); readers reject such rows first.
        """
        nodes: dict[str, Node] = {}
        for raw in paths:
            path = clean_path(raw)
            for depth in range(1, len(path) + 1):
                node_id = PATH_SEP.join(path[:depth])
                if node_id not in nodes:
                    parent = PATH_SEP.join(path[: depth - 1]) if depth > 1 else None
                    nodes[node_id] = Node(node_id, path[depth - 1], depth, parent)
        for node in nodes.values():
            problem = label_problem(node.name)
            if problem is not None:
                raise TaxonomyError(f"level {node.level} label {problem}")
        return cls(nodes.values())

    @classmethod
    def from_labels(cls, labels: pd.DataFrame) -> Taxonomy:
        """From a label frame with one column per level (level_1..level_n)."""
        return cls.from_paths(labels.itertuples(index=False, name=None))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Taxonomy:
        """From a table with columns id, name, parent_id (NaN/None/'' for top level); level is recomputed. Names are
        stripped: a published file's stray spaces ("Vêtements ") would otherwise make paths no label can match."""
        missing = {"id", "name", "parent_id"} - set(frame.columns)
        if missing:
            raise TaxonomyError(f"taxonomy table lacks column(s) {sorted(missing)}")
        parents: dict[str, str | None] = {}
        names: dict[str, str] = {}
        for node_id, name, parent in frame[["id", "name", "parent_id"]].itertuples(index=False, name=None):
            key = str(node_id)
            if key in names:
                raise TaxonomyError(f"duplicate node id {key!r}")
            names[key] = str(name).strip()
            parents[key] = None if _blank(parent) else str(parent)
        levels: dict[str, int] = {}
        for key in names:
            chain: list[str] = []
            cur: str | None = key
            while cur is not None and cur not in levels:
                if cur in chain:
                    raise TaxonomyError(f"cycle in taxonomy at node {cur!r}")
                chain.append(cur)
                if cur not in parents:
                    raise TaxonomyError(f"node {chain[-2]!r} has unknown parent {cur!r}")
                cur = parents[cur]
            base = 0 if cur is None else levels[cur]
            for i, node_id in enumerate(reversed(chain)):
                levels[node_id] = base + i + 1
        return cls(Node(k, names[k], levels[k], parents[k]) for k in names)

    @classmethod
    def from_file(cls, kind: str, lang: str = "en") -> Taxonomy:
        """A published taxonomy: ``kind`` is 'shopify', 'google' or 'gs1' (loaded by skutag.catalogue)."""
        from skutag.datasets import taxonomies

        loaders = {
            "shopify": lambda: taxonomies.load_shopify_taxonomy(lang),
            "google": taxonomies.load_google_taxonomy,
            "gs1": taxonomies.load_gs1_taxonomy,
        }
        if kind not in loaders:
            raise TaxonomyError(f"unknown taxonomy kind {kind!r}; expected one of {sorted(loaders)}")
        return cls.from_frame(loaders[kind]())

    # ---- lookup -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise TaxonomyError(f"no node with id {node_id!r}") from None

    @property
    def roots(self) -> list[Node]:
        return [self._nodes[i] for i in self._roots]

    @property
    def depth(self) -> int:
        return max((n.level for n in self._nodes.values()), default=0)

    def children(self, node_id: str | None) -> list[Node]:
        ids = self._roots if node_id is None else self.node(node_id).children
        return [self._nodes[i] for i in ids]

    def parent(self, node_id: str) -> Node | None:
        pid = self.node(node_id).parent_id
        return None if pid is None else self._nodes[pid]

    def ancestors(self, node_id: str) -> list[Node]:
        """From the top-level ancestor down to the node itself."""
        chain = []
        cur: str | None = node_id
        while cur is not None:
            node = self.node(cur)
            chain.append(node)
            cur = node.parent_id
        return chain[::-1]

    def path(self, node_id: str) -> tuple[str, ...]:
        return tuple(n.name for n in self.ancestors(node_id))

    def find(self, name: str, level: int | None = None) -> list[Node]:
        """Nodes whose name matches (case-insensitive), optionally at one level."""
        found = [self._nodes[i] for i in self._by_name.get(name.casefold(), [])]
        return [n for n in found if level is None or n.level == level]

    def id_of_path(self, path: Sequence[object]) -> str:
        key = clean_path(path)
        try:
            return self._by_path[key]
        except KeyError:
            raise TaxonomyError(f"path {PATH_SEP.join(key)!r} is not in the taxonomy") from None

    def is_valid_path(self, path: Sequence[object]) -> bool:
        """True when every node of the path exists and each is the child of the one before."""
        key = clean_path(path)
        return len(key) > 0 and key in self._by_path

    def leaves(self) -> list[Node]:
        return [n for n in self._nodes.values() if not n.children]

    def level_nodes(self, level: int) -> list[Node]:
        return [n for n in self._nodes.values() if n.level == level]

    # ---- validation and persistence ----------------------------------------------------------
    def validate(self) -> None:
        """Raise TaxonomyError on empty names, wrong levels or cycles (unreachable from a root)."""
        seen: set[str] = set()
        stack = [(i, 1) for i in self._roots]
        while stack:
            node_id, level = stack.pop()
            if node_id in seen:
                raise TaxonomyError(f"node {node_id!r} is reachable twice")
            seen.add(node_id)
            node = self._nodes[node_id]
            if not node.name.strip():
                raise TaxonomyError(f"node {node_id!r} has an empty name")
            if node.level != level:
                raise TaxonomyError(f"node {node_id!r} says level {node.level} but sits at level {level}")
            stack.extend((c, level + 1) for c in node.children)
        if len(seen) != len(self._nodes):
            stray = sorted(set(self._nodes) - seen)[:3]
            raise TaxonomyError(f"cycle in taxonomy: nodes not reachable from a root, e.g. {stray}")

    def to_frame(self) -> pd.DataFrame:
        rows = [(n.id, n.name, n.parent_id, n.level, PATH_SEP.join(self.path(n.id))) for n in self]
        return pd.DataFrame(rows, columns=["id", "name", "parent_id", "level", "path"])

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [[n.id, n.name, n.level, n.parent_id] for n in self]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Taxonomy:
        try:
            return cls(
                Node(str(i), str(name), int(level), None if p is None else str(p))
                for i, name, level, p in data["nodes"]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TaxonomyError(f"malformed taxonomy data: {exc}") from None


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    return isinstance(value, str) and not value.strip()


def clean_path(path: Sequence[object]) -> tuple[str, ...]:
    """Path as a tuple of stripped names, cut at the first empty/missing level."""
    out: list[str] = []
    for part in path:
        if _blank(part) or part is pd.NA:
            break
        out.append(str(part).strip())
    return tuple(out)
