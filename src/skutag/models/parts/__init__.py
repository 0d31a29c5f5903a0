"""Sub-models beside the category model: attribute values (spans in the text) and free tag sets.

Each part is a complete saved artefact in a subfolder of the model directory (``attributes/``, ``tags/``); see
:mod:`skutag.models.bundle` for how they are added, kept and loaded together.
"""
