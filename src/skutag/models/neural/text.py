"""Product rows to encoder input without torch: one string per row from the text columns, and token ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def field_texts(frame: Any, fields: str = "title") -> list[str]:
    """One string per row: ``title`` uses the first text column (falling back to the next non-empty one);
    ``all`` joins every non-empty column with `` | `` (long descriptions are truncated by the tokenizer)."""
    rows = frame.astype(object).where(frame.notna(), "").itertuples(index=False, name=None)
    out = []
    for row in rows:
        values = [str(v).strip() for v in row if isinstance(v, str) and v.strip()]
        if fields == "all":
            out.append(" | ".join(values))
        else:
            out.append(values[0] if values else "")
    return out


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids with special tokens, truncated to ``max_length`` (no padding: the collator pads per batch)."""
    if not texts:  # fast tokenizers fail on an empty batch; no rows, no ids
        return []
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)
    return [list(x) for x in enc["input_ids"]]
