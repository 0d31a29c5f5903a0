"""Category trees: build from label paths or taxonomy files, look up, validate."""

from skutag.catalogue.paths import BAD_LABEL, PATH_SEP, bad_level, label_problem, split_path
from skutag.taxonomy.tree import Node, Taxonomy, clean_path

__all__ = ["BAD_LABEL", "PATH_SEP", "Node", "Taxonomy", "bad_level", "clean_path", "label_problem", "split_path"]
