"""Category trees: build from label paths or taxonomy files, look up, validate."""

from skutag.taxonomy.tree import PATH_SEP, Node, Taxonomy, clean_path

__all__ = ["PATH_SEP", "Node", "Taxonomy", "clean_path"]
