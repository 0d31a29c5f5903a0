"""How a part is stored: ``part.json`` (its settings, tables and card) beside its tagger's own artefact in
``model/``, the pair saved atomically as one artefact of the part's kind."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skutag.errors import ModelLoadError
from skutag.models.card import open_artefact, save_artefact

CONFIG_FILE = "part.json"
MODEL_DIR = "model"


def write_part(directory: str | Path, kind: str, config: dict[str, Any], tagger: Any) -> Path:
    """Save ``config`` and ``tagger`` (anything with ``save(folder)``) as a part of ``kind`` at ``directory``."""

    def write_state(tmp: Path) -> None:
        (tmp / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False, default=str), "utf-8")
        tagger.save(tmp / MODEL_DIR)

    return save_artefact(directory, kind, write_state)


def read_part(
    directory: str | Path, kind: str, load_tagger: Callable[[dict[str, Any], Path], Any], what: str
) -> tuple[dict[str, Any], Any]:
    """The part's config and its tagger (``load_tagger(config, model_folder)``), checksums verified; anything that
    goes wrong is a ModelLoadError naming the folder and ``what`` the part is."""
    folder, _ = open_artefact(directory, kind)
    try:
        config = json.loads((folder / CONFIG_FILE).read_text("utf-8"))
        return config, load_tagger(config, folder / MODEL_DIR)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"{folder}: cannot load the {what} ({type(exc).__name__}: {exc})") from exc
