"""Request and response bodies of the API (pydantic), which also make the OpenAPI schema.

Every rule a request body must follow is stated here, in the schema clients and test tools read: a body the
schema allows is one the server takes (a path outside the taxonomy or an unknown product is a 404, two products
with one id a 409, state the schema cannot know).
"""

from __future__ import annotations

import math
import numbers
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    TypeAdapter,
    model_validator,
)

MAX_ID_CHARS = 200
MAX_FIELD_CHARS = 50_000
MAX_FIELD_NAME_CHARS = 200
MAX_TAGS = 200
MAX_TAG_VALUE_CHARS = 500
MAX_TOP_K = 20


def _escape(c: str) -> str:
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def _char_class(chars: str, *, negate: bool = False) -> str:
    """A regex character class of ``chars`` (runs as ranges) in escapes that Python, Rust (pydantic-core) and
    ECMA (JSON Schema) regexes all read the same way."""
    codes = sorted(set(map(ord, chars)))
    runs: list[list[int]] = []
    for code in codes:
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    body = "".join(_escape(chr(a)) + (f"-{_escape(chr(b))}" if b > a else "") for a, b in runs)
    return f"[{'^' if negate else ''}{body}]"


#: What ``str.strip()`` strips: spelled out, since ``\s`` differs between Python, Rust and ECMA regexes.
SPACES = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
#: Text may hold anything but NUL (which PostgreSQL cannot store in text columns).
NO_NUL = r"^[^\x00]*$"
#: Some character that is neither NUL nor white space (a value that strips to something).
VISIBLE = _char_class("\x00" + SPACES, negate=True)
#: Anything without NUL that holds at least one visible character.
VISIBLE_NO_NUL = rf"^[^\x00]*{VISIBLE}[^\x00]*$"

ProductId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_CHARS, pattern=VISIBLE_NO_NUL),
    AfterValidator(str.strip),  # after the checks, so that the schema's maxLength is the whole rule
]
FieldText = Annotated[str, StringConstraints(max_length=MAX_FIELD_CHARS, pattern=NO_NUL)]
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_FIELD_NAME_CHARS, pattern=NO_NUL)]
PathPart = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=NO_NUL)]
ShortText = Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)]


def _schema(tp: Any) -> dict[str, Any]:
    return TypeAdapter(tp).json_schema()


def _text_map_schema(max_properties: int | None = None) -> dict[str, Any]:
    """An object of text values whose keys are checked too: pydantic would put the key rule in
    ``patternProperties``, which leaves keys that break it unconstrained."""
    schema = {"type": "object", "propertyNames": _schema(FieldName), "additionalProperties": _schema(FieldText)}
    return schema if max_properties is None else {**schema, "maxProperties": max_properties}


#: A tag's value: some visible text without NUL, stripped (after the checks, as for ids).
TagValue = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TAG_VALUE_CHARS, pattern=VISIBLE_NO_NUL),
    AfterValidator(str.strip),
]
TagDecision = Literal["auto", "review"]
TagKind = Literal["attribute", "tag"]
TagSource = Literal["model", "review"]
_SPAN = ("field", "start", "end")


def _span_schema(schema: dict[str, Any]) -> None:
    """``field``, ``start`` and ``end`` come together or not at all (null counts as absent), in the schema too:
    JSON Schema says it with ``anyOf``, so that a body the schema allows is one the model takes."""
    schema["anyOf"] = [
        {
            "required": list(_SPAN),
            "properties": {"field": {"type": "string"}, "start": {"type": "integer"}, "end": {"type": "integer"}},
        },
        {"properties": {name: {"type": "null"} for name in _SPAN}},
    ]


class TagEntryIn(BaseModel):
    """A tag as a reviewer sends it (the entry of ``extraction.entries``): only ``value`` is required.

    A span (``field``, ``start``, ``end``, all three or none) must lie inside that text field of the stored
    product with ``start < end``: the server checks it against the product (a 422 names the tag otherwise; JSON
    Schema cannot compare two numbers, so that part is not in the schema) and takes ``text`` from the product.
    The server records every entry of a review with ``source: "review"``.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_span_schema)

    value: TagValue = Field(description="The value (an attribute's canonical value; a free tag: its name).")
    text: FieldText | None = Field(default=None, description="Ignored: the server sets the span's text.")
    field: FieldName | None = Field(default=None, description="The product's text field the span is in.")
    start: int | None = Field(default=None, ge=0, le=MAX_FIELD_CHARS, description="First character of the span.")
    end: int | None = Field(default=None, ge=1, le=MAX_FIELD_CHARS, description="One past its last character.")
    confidence: float | None = Field(default=None, ge=0.0, le=1.0, description="The model's probability, if any.")
    decision: TagDecision | None = None
    kind: TagKind | None = None
    source: TagSource | None = Field(default=None, description='Ignored: a reviewed entry is "review".')

    @model_validator(mode="after")
    def whole_span(self) -> TagEntryIn:
        """Half a span cannot be shown or checked: refuse it here rather than drop it silently."""
        given = [name for name in _SPAN if getattr(self, name) is not None]
        if given and len(given) < len(_SPAN):
            missing = [name for name in _SPAN if name not in given]
            raise ValueError(f"a span needs field, start and end together; missing {', '.join(missing)}")
        return self


def _checked_keys(schema: dict[str, Any]) -> None:
    """Move pydantic's ``patternProperties`` into ``propertyNames`` (see :func:`_text_map_schema`)."""
    patterns = schema.pop("patternProperties", None)
    if patterns:
        ((pattern, values),) = patterns.items()
        schema["additionalProperties"] = values
        schema.setdefault("propertyNames", {})["pattern"] = pattern


#: A reviewer's tags ``{name: entry}``; a bare value stands for ``{"value": ...}`` (what clients sent before
#: entries had spans), and ``{}`` clears them. An object is checked as an entry only, so that its 422 names the
#: entry's own fields rather than also saying that it is not a string.
TagMap = Annotated[
    dict[
        FieldName,
        Annotated[
            Annotated[TagValue, Tag("value")] | Annotated[TagEntryIn, Tag("entry")],
            Discriminator(lambda v: "entry" if isinstance(v, dict | TagEntryIn) else "value"),
        ],
    ],
    Field(max_length=MAX_TAGS, json_schema_extra=_checked_keys),
]


def _unset(value: object) -> bool:
    return value is None


_OUT_CHOICES: dict[str, tuple[str, ...]] = {
    "decision": ("auto", "review"),
    "kind": ("attribute", "tag"),
    "source": ("model", "review"),
}
_MISSING = object()


def _out_field(key: str, value: object) -> object:
    """``value`` as the answer's schema has ``key`` (a NumPy number as a plain one), or ``_MISSING`` when it
    does not fit; keys outside the schema pass through."""
    if key in ("text", "field"):
        return value if isinstance(value, str) else _MISSING
    if isinstance(value, bool):
        return _MISSING if key in ("start", "end", "confidence") else value
    if key in ("start", "end"):
        return int(value) if isinstance(value, numbers.Integral) else _MISSING
    if key == "confidence":
        return float(value) if isinstance(value, numbers.Real) and math.isfinite(float(value)) else _MISSING
    if key in _OUT_CHOICES:
        return value if value in _OUT_CHOICES[key] else _MISSING
    return value


def stored_tags(raw: object) -> dict[str, dict[str, Any]]:
    """Stored tags as answer entries: the store keeps whatever JSON it was given (a bare ``"black"`` from an
    older client, a field of another type), and an answer must still match its schema rather than fail."""
    if not isinstance(raw, dict):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, entry in raw.items():
        fields = entry if isinstance(entry, dict) else {"value": entry}
        value = fields.get("value")
        kept = {str(k): _out_field(str(k), v) for k, v in fields.items() if k != "value"}
        out[str(name)] = {
            "value": "" if value is None else str(value),
            **{k: v for k, v in kept.items() if v is not _MISSING},
        }
    return out


class TagEntryOut(BaseModel):
    """One tag as the store holds it (``extraction.entries.TagEntry``); fields it lacks are left out."""

    model_config = ConfigDict(extra="allow")

    value: str
    text: str | None = Field(default=None, exclude_if=_unset, description="The span as written in the text.")
    field: str | None = Field(default=None, exclude_if=_unset, description="The text field the span is in.")
    start: int | None = Field(default=None, exclude_if=_unset, description="Character offsets [start, end).")
    end: int | None = Field(default=None, exclude_if=_unset)
    confidence: float | None = Field(default=None, exclude_if=_unset)
    decision: TagDecision | None = Field(default=None, exclude_if=_unset)
    kind: TagKind | None = Field(default=None, exclude_if=_unset)
    source: TagSource | None = Field(default=None, exclude_if=_unset)


#: Tags in an answer: ``{name: entry}``.
StoredTagMap = Annotated[dict[str, TagEntryOut], BeforeValidator(stored_tags)]


def _product_schema(schema: dict[str, Any]) -> None:
    """Extra fields are text under checked names; name or description must hold text (``ProductIn.has_text``)."""
    schema.update(_text_map_schema())
    schema["anyOf"] = [
        {"required": [field], "properties": {field: {"pattern": VISIBLE}}} for field in ("name", "description")
    ]


class ProductIn(BaseModel):
    """A product to tag: an id, its text fields; extra string fields (brand, shop category ...) are allowed."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_product_schema)

    id: ProductId = Field(description="Your product id; the store keys products by it.")
    name: FieldText = Field(default="", description="Title / product name.")
    description: FieldText = ""
    __pydantic_extra__: dict[FieldName, FieldText] = Field(init=False)

    @model_validator(mode="after")
    def has_text(self) -> ProductIn:
        """Refuse a product without text up front: the model would answer its prior for any empty product."""
        if not (self.name.strip() or self.description.strip()):
            raise ValueError("no text to tag: send name and/or description")
        return self

    def fields(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "description": self.description, **(self.model_extra or {})}


class TagRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    products: list[ProductIn] = Field(
        min_length=1, description="One product or a batch (at most the server's batch limit, its maxItems)."
    )
    model: ShortText | None = Field(default=None, description="Model name or version; default: the served one.")
    top_k: int | None = Field(
        default=None, ge=1, le=MAX_TOP_K, description="Alternatives to return (including the best)."
    )


class LevelScore(BaseModel):
    level: int
    name: str
    score: float | None


class Alternative(BaseModel):
    path: list[str]
    score: float


Decision = Literal["auto_accepted", "needs_review"]


class TagResult(BaseModel):
    id: str
    path: list[str] = Field(description="Best category path, root first.")
    levels: list[LevelScore] = Field(description="Each level of the best path with its probability.")
    confidence: float = Field(description="Probability of the whole best path (compared with the threshold).")
    alternatives: list[Alternative] = Field(description="Top-k paths with their probabilities, best first.")
    tags: StoredTagMap = Field(
        default_factory=dict, description="Attributes and tags ``{name: entry}``, when the model extracts them."
    )
    decision: Decision
    model_version: str


class TagResponse(BaseModel):
    model: str
    model_version: str
    threshold: float = Field(description="Confidence a result needs to be auto-accepted (above 1: nothing is).")
    target_precision: float | None = Field(
        description="Precision the threshold was calibrated to reach on held-out rows; null when it is not "
        "calibrated (a fixed threshold, or a model without calibration, which auto-accepts nothing)."
    )
    calibrated: bool = Field(description="Whether the threshold is calibrated for target_precision.")
    calibration: str = Field(description="What the threshold is: its calibration rows, or why it is not calibrated.")
    stored: bool = Field(description="True when every result was written to the tag store before answering.")
    results: list[TagResult]


class ModelInfo(BaseModel):
    name: str
    version: str
    kind: str
    levels: list[str]
    text_columns: list[str]
    n_paths: int
    threshold: float
    target_precision: float | None = Field(description="As in a tag response: null when not calibrated.")
    calibrated: bool
    calibration: dict[str, Any]
    validation: dict[str, Any] | None = None
    saved_at: str | None = None
    has_tags: bool = False
    attributes: list[str] = Field(default_factory=list, description="Attributes the model extracts (its tags).")
    tags: list[str] = Field(default_factory=list, description="Free tags the model assigns.")


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class Health(BaseModel):
    status: str
    detail: dict[str, Any] = Field(default_factory=dict)


class Prediction(BaseModel):
    id: int
    path: list[str]
    category: str
    level_scores: list[float | None]
    path_score: float
    topk: list[dict[str, Any]]
    tags: StoredTagMap
    decision: str
    threshold: float
    model_version: str
    created_at: str


class ReviewOut(BaseModel):
    id: int
    action: str
    path: list[str]
    predicted_path: list[str]
    tags: StoredTagMap = Field(description="The tags after the decision (reviewer's entries: source review).")
    reviewer: str
    model_version: str | None
    created_at: str


class QueueItem(BaseModel):
    id: str
    name: str
    description: str
    fields: dict[str, Any]
    status: str
    prediction: Prediction | None
    review: ReviewOut | None = None


class QueueResponse(BaseModel):
    total: int
    items: list[QueueItem]


class Facets(BaseModel):
    categories: list[str]
    model_versions: list[str]


class CategoryRate(BaseModel):
    category: str
    reviewed: int
    accepted: int
    rate: float


class ReviewStats(BaseModel):
    acceptance: list[CategoryRate]
    counts: dict[str, int]


class TaxonomyResponse(BaseModel):
    total: int
    paths: list[list[str]]


class _Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: ProductId
    tags: TagMap | None = Field(
        default=None,
        description="The product's tags after the decision, ``{name: entry}``; omitted: accept takes the prediction's, "
        "correct keeps the current ones, edit_tags clears them.",
    )
    reviewer: Annotated[str, StringConstraints(max_length=100, pattern=NO_NUL)] | None = None


class AcceptDecision(_Decision):
    """Accept the model's latest path."""

    action: Literal["accept"]


class CorrectDecision(_Decision):
    """Correct the category to ``path``, one of the model's paths (see /v1/review/taxonomy)."""

    action: Literal["correct"]
    path: list[PathPart] = Field(min_length=1, max_length=20, description="The new category path, root first.")


class EditTagsDecision(_Decision):
    """Keep the path, replace the tags."""

    action: Literal["edit_tags"]


#: One model per action (a tagged union on ``action``): each states the fields that action needs, so that a
#: body the schema allows (a correction without a path, say) is not a 422.
ReviewRequest = Annotated[AcceptDecision | CorrectDecision | EditTagsDecision, Field(discriminator="action")]


class EvidenceToken(BaseModel):
    field: str
    token: str
    weight: float


class ExplainSpan(BaseModel):
    field: str = Field(description="The product field the text came from (name, description, ...).")
    start: int = Field(description="First character of the word in that field's text as sent.")
    end: int = Field(description="One past its last character.")
    text: str
    weight: float = Field(description="Signed weight for the path: positive speaks for it.")


class Neighbour(BaseModel):
    row: int = Field(
        description="Its row in the model's neighbour index (a training product's: its place in the rows trained on)."
    )
    path: list[str]
    similarity: float
    kind: Literal["product", "label"] = Field(
        default="product", description="A training product, or a path's own label (an ensemble's index holds both)."
    )
    text: str | None = Field(default=None, description="Its title, where the index keeps titles (an ensemble's).")


class TagSpan(BaseModel):
    field: str = Field(description="The product field the text is in (as the tag entries name it).")
    start: int = Field(description="First character in that field's text as sent.")
    end: int = Field(description="One past the last character.")
    text: str
    weight: float = Field(
        description="The value's span: the tagger's score of it. A context word: the score (an attribute's span) "
        "or probability (a free tag) lost when that word alone is blanked; positive: it spoke for the tag."
    )


class TagExplanation(BaseModel):
    value: str
    kind: TagKind
    confidence: float | None = None
    score: float = Field(description="The tagger's score of the span (attribute) or the tag's probability (free tag).")
    span: TagSpan | None = Field(description="Where the value was read (None for a free tag).")
    context: list[TagSpan] = Field(description="The words that decided it, by weight (largest first).")
    target: str = Field(description="What the context weights measure.")
    words: int = Field(description="How many words were tried (the nearest to the span; a free tag: the first).")
    seconds: float | None = None


class Explanation(BaseModel):
    id: str | None = None
    path: list[str]
    probability: float
    method: str = Field(description="linear (exact contributions), ig, gradient, occlusion, erasure (greedy) or blend.")
    target: str = Field(description="What the weights add up to (with bias).")
    bias: float | None = None
    delta: float | None = Field(default=None, description="Integrated Gradients' convergence delta.")
    spans: list[ExplainSpan]
    neighbours: list[Neighbour] = []
    members: list[dict[str, Any]] = []
    seconds: float | None = None
    tags: dict[str, TagExplanation] | None = Field(
        default=None, description="Per attribute value or free tag the product gets: its span and deciding words "
        "(a model with attribute or tag parts, when the request's tags is true)."
    )  # fmt: skip


class Evidence(Explanation):
    """The review page's evidence: the explanation, plus the heaviest words (older clients read ``tokens``)."""

    base_score: float | None
    tokens: list[EvidenceToken]


#: POST /v1/explain takes at most this many products: explanations cost many predictions each.
MAX_EXPLAIN_PRODUCTS = 8
ExplainMethod = Literal["auto", "linear", "ig", "gradient", "occlusion", "erasure", "blend"]


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    products: list[ProductIn] = Field(min_length=1, max_length=MAX_EXPLAIN_PRODUCTS)
    path: list[ShortText] | None = Field(
        default=None, min_length=1, max_length=10, description="Explain this path instead of each predicted one."
    )
    method: ExplainMethod = "auto"
    tags: bool = Field(
        default=False, description="Also explain the product's attribute values and free tags (a model with those "
        "parts). Costly: a tagger run per context word tried (at most 24 per value, 64 per row of free tags); "
        "with the fine-tuned extractor on CPU about a second per value."
    )  # fmt: skip


class ExplainResponse(BaseModel):
    model: str
    model_version: str
    results: list[Explanation]
