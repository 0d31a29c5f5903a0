"""Request and response bodies of the API (pydantic), which also make the OpenAPI schema."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_ID_CHARS = 200
MAX_FIELD_CHARS = 50_000
MAX_TOP_K = 20

#: Text may hold anything but NUL (which PostgreSQL cannot store in text columns).
NO_NUL = r"^[^\x00]*$"

ProductId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS, strip_whitespace=True, pattern=NO_NUL)
]
FieldText = Annotated[str, StringConstraints(max_length=MAX_FIELD_CHARS, pattern=NO_NUL)]
PathPart = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=NO_NUL)]
TagName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_NUL)]
ShortText = Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)]


class ProductIn(BaseModel):
    """A product to tag: an id, its text fields; extra string fields (brand, shop category ...) are allowed."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": {"type": "string"}})

    id: ProductId = Field(description="Your product id; the store keys products by it.")
    name: FieldText = Field(default="", description="Title / product name.")
    description: FieldText = ""
    __pydantic_extra__: dict[str, FieldText] = Field(init=False)

    def fields(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "description": self.description, **(self.model_extra or {})}


class TagRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    products: list[ProductIn] = Field(min_length=1, description="One product or a batch (see the batch limit).")
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
    tags: dict[str, Any] = Field(default_factory=dict, description="Attributes, when the model extracts them.")
    decision: Decision
    model_version: str


class TagResponse(BaseModel):
    model: str
    model_version: str
    threshold: float
    target_precision: float
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
    target_precision: float
    calibration: dict[str, Any]
    validation: dict[str, Any] | None = None
    saved_at: str | None = None
    has_tags: bool = False


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
    tags: dict[str, Any]
    decision: str
    threshold: float
    model_version: str
    created_at: str


class ReviewOut(BaseModel):
    id: int
    action: str
    path: list[str]
    predicted_path: list[str]
    tags: dict[str, Any]
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


class ReviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: ProductId
    action: Literal["accept", "correct", "edit_tags"]
    path: list[PathPart] | None = Field(
        default=None, max_length=20, description="The corrected path (action 'correct')."
    )
    tags: dict[Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_NUL)], FieldText] | None = (
        Field(default=None, max_length=200)
    )
    reviewer: Annotated[str, StringConstraints(max_length=100, pattern=NO_NUL)] | None = None


class EvidenceToken(BaseModel):
    field: str
    token: str
    weight: float


class Evidence(BaseModel):
    path: list[str]
    base_score: float | None
    tokens: list[EvidenceToken]
