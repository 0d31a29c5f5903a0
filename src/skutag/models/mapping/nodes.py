"""The candidates of a mapping (the taxonomy's leaves) and the texts each is retrieved by.

Every leaf is described by its own name and by its full path (``Clothing > Clothing > Upper Body Wear``) with
what the taxonomy says it includes (GS1's definitions) appended; what it excludes is kept apart. An ancestor is
not a candidate of its own: its evidence is the retrieval mass of its descendants (its children's names, and
theirs, speak for it), which :mod:`skutag.models.mapping.rerank` combines along each path.

A taxonomy in another language than English that also carries its English tree (Shopify) can describe each leaf
in its own language, in English, or both (``langs``): a product is then retrieved by whichever it is closer to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from skutag.catalogue.paths import PATH_SEP
from skutag.taxonomy.sources import TaxonomySource


@dataclass(frozen=True)
class LeafTable:
    """The leaves in a fixed order with their texts, and each leaf's ancestors as column indices.

    ``ancestors`` is a (leaves x nodes) 0/1 matrix: row ``i`` marks every proper ancestor of leaf ``i`` among
    ``node_ids`` (the taxonomy's inner nodes); ``ancestor_cols[i]`` lists them root first.
    """

    ids: list[str]
    paths: list[tuple[str, ...]]
    names: list[str]
    full_texts: list[str]
    excludes: list[str]
    node_ids: list[str]
    ancestors: sp.csr_matrix
    ancestor_cols: list[list[int]]
    dense_texts: list[list[str]]
    lexical_texts: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def depth(self) -> int:
        return max((len(p) for p in self.paths), default=0)


#: Which names describe a leaf of a taxonomy that carries an English tree: its own language's, English, or both.
LANGS = ("both", "taxonomy", "en")


def leaf_table(source: TaxonomySource, langs: str = "both") -> LeafTable:
    """The leaves of ``source``; ``dense_texts`` lists the text sets a leaf is embedded by (its name and its
    full text, per language in ``langs``), ``lexical_texts`` the one text it is matched by lexically."""
    from skutag.errors import ConfigError

    if langs not in LANGS:
        raise ConfigError(f"unknown retrieval languages {langs!r}; choose from {', '.join(LANGS)}")
    tree = source.tree
    leaves = tree.leaves()
    inner = [n.id for n in tree if n.children]
    col = {node_id: j for j, node_id in enumerate(inner)}
    ids, paths, names, full, excludes, cols = [], [], [], [], [], []
    for leaf in leaves:
        path = tree.path(leaf.id)
        note = source.notes.get(leaf.id, "")
        ids.append(leaf.id)
        paths.append(path)
        names.append(leaf.name)
        full.append(PATH_SEP.join(path) + (f". {note}" if note else ""))
        excludes.append(source.excludes.get(leaf.id, ""))
        cols.append([col[a.id] for a in tree.ancestors(leaf.id)[:-1]])
    rows = np.repeat(np.arange(len(leaves)), [len(c) for c in cols])
    flat = np.array([c for cs in cols for c in cs], dtype=np.int64)
    matrix = sp.csr_matrix((np.ones(len(flat)), (rows, flat)), shape=(len(leaves), len(inner)))
    dense, lexical = [names, full], full
    en = source.english
    if en is not None and langs != "taxonomy":
        en_names = [en.node(i).name for i in ids]
        en_full = [PATH_SEP.join(en.path(i)) for i in ids]
        dense = [en_names, en_full] if langs == "en" else [names, full, en_names, en_full]
        lexical = en_full if langs == "en" else [f"{a} | {b}" for a, b in zip(full, en_full, strict=True)]
    return LeafTable(ids, paths, names, full, excludes, inner, matrix, cols, dense, lexical)
