"""Plain records passed in and out of the tag store (no ORM objects leak out of it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skutag.taxonomy import PATH_SEP


@dataclass
class PredictionRecord:
    """One model answer to write: the product (id and text fields) and what the model said about it."""

    external_id: str
    fields: dict[str, str]
    path: list[str]
    level_scores: list[float | None]
    path_score: float
    topk: list[dict[str, Any]]
    decision: str
    threshold: float
    model_version: str
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def path_text(self) -> str:
        return PATH_SEP.join(self.path)


def split_path(text: str) -> list[str]:
    return [part for part in text.split(PATH_SEP) if part] if text else []
