"""SQLAlchemy 2 tables of the tag store: products, predictions, review decisions and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: ``products.status``: awaiting a human / accepted automatically / decided by a human.
STATUS_PENDING = "pending"
STATUS_AUTO = "auto"
STATUS_REVIEWED = "reviewed"

DECISION_AUTO = "auto_accepted"
DECISION_REVIEW = "needs_review"

ACTION_ACCEPT = "accept"
ACTION_CORRECT = "correct"
ACTION_TAGS = "edit_tags"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the store's tables."""


class Product(Base):
    """One product, by its external id; ``fields`` holds every text field it was posted with."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, default="", nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default=STATUS_PENDING, nullable=False)
    latest_prediction_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    predictions: Mapped[list[Prediction]] = relationship(back_populates="product", order_by="Prediction.id")

    __table_args__ = (Index("ix_products_status", "status"),)


class Prediction(Base):
    """A model's answer for a product: best path, per-level scores, top-k alternatives, tags, decision."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), nullable=False)
    model_version: Mapped[str] = mapped_column(String(100), nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str] = mapped_column(Text, nullable=False)
    level_scores: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    path_score: Mapped[float] = mapped_column(Float, nullable=False)
    topk: Mapped[list[Any]] = mapped_column(JSON, nullable=False)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    threshold: Mapped[float] = mapped_column(Float, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    product: Mapped[Product] = relationship(back_populates="predictions")

    __table_args__ = (
        Index("ix_predictions_product", "product_id"),
        Index("ix_predictions_model_version", "model_version"),
    )


class Review(Base):
    """A human decision on a product: accept the suggestion, correct the path, or edit tags."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), nullable=False)
    prediction_id: Mapped[int | None] = mapped_column(ForeignKey("predictions.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    predicted_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    predicted_category: Mapped[str | None] = mapped_column(Text, nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(100), nullable=True)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    reviewer: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    __table_args__ = (Index("ix_reviews_product", "product_id"),)


class AuditEntry(Base):
    """Who changed what, when: one row per change, with the values before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(200), nullable=False)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)
