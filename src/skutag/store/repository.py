"""The tag store: write predictions, serve the review queue, record human decisions with an audit trail."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, case, func, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from skutag.errors import ConfigError, InputError
from skutag.log import get_logger
from skutag.store.engine import make_engine, upgrade
from skutag.store.records import PredictionRecord, split_path
from skutag.store.tables import (
    ACTION_ACCEPT,
    ACTION_CORRECT,
    ACTION_TAGS,
    DECISION_REVIEW,
    STATUS_AUTO,
    STATUS_PENDING,
    STATUS_REVIEWED,
    AuditEntry,
    Prediction,
    Product,
    Review,
    utcnow,
)
from skutag.taxonomy import PATH_SEP

log = get_logger(__name__)

ACTIONS = (ACTION_ACCEPT, ACTION_CORRECT, ACTION_TAGS)
_IN_CHUNK = 500


class NotFoundError(InputError):
    """No such product in the store."""


class TagStore:
    """Products, predictions, reviews and audit log in one database (``url``: SQLite file or PostgreSQL)."""

    def __init__(self, url: str | Path, *, migrate: bool = True, engine: Engine | None = None) -> None:
        self.engine = engine or make_engine(url)
        if migrate:
            upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> TagStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on any error."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except SQLAlchemyError:
            return False

    # ---- writing predictions --------------------------------------------------------------------
    def record_predictions(self, records: Sequence[PredictionRecord], actor: str = "model") -> list[int]:
        """Upsert the products and add one prediction each, in a single transaction; returns prediction ids.

        A product a human already reviewed keeps its ``reviewed`` status; the others go to the review queue
        (``needs_review``) or out of it (``auto_accepted``).
        """
        if not records:
            return []
        for attempt in (1, 2):
            try:
                with self.session() as s:
                    return self._record(s, records, actor)
            except IntegrityError:
                if attempt == 2:
                    raise
                log.info("concurrent insert of the same product; retrying the batch once")
        return []  # pragma: no cover

    def _record(self, s: Session, records: Sequence[PredictionRecord], actor: str) -> list[int]:
        """Core statements (executemany), not the ORM unit of work: a few ms per batch, any batch size."""
        products = cast(Table, Product.__table__)
        conn = s.connection()
        ids = list(dict.fromkeys(r.external_id for r in records))
        status: dict[str, tuple[int, str]] = {}
        for i in range(0, len(ids), _IN_CHUNK):
            q = select(products.c.id, products.c.external_id, products.c.status).where(
                products.c.external_id.in_(ids[i : i + _IN_CHUNK])
            )
            status.update({ext: (pid, st) for pid, ext, st in conn.execute(q)})
        now = utcnow()
        last = {r.external_id: r for r in records}  # the last record of a product decides its fields
        new = [ext for ext in ids if ext not in status]
        if new:
            rows = [
                {
                    "external_id": ext,
                    "name": _text(last[ext].fields.get("name")),
                    "description": _text(last[ext].fields.get("description")),
                    "fields": dict(last[ext].fields),
                    "status": STATUS_PENDING,
                    "created_at": now,
                    "updated_at": now,
                }
                for ext in new
            ]
            ins = insert(products).returning(products.c.id, products.c.external_id, sort_by_parameter_order=True)
            status.update({ext: (pid, STATUS_PENDING) for pid, ext in conn.execute(ins, rows)})
        preds = cast(Table, Prediction.__table__)
        pred_rows = [
            {
                "product_id": status[r.external_id][0],
                "model_version": r.model_version,
                "path": r.path_text,
                "category": r.path[0] if r.path else "",
                "level_scores": list(r.level_scores),
                "path_score": float(r.path_score),
                "topk": list(r.topk),
                "tags": dict(r.tags),
                "decision": r.decision,
                "threshold": float(r.threshold),
                "created_at": now,
            }
            for r in records
        ]
        ins = insert(preds).returning(preds.c.id, sort_by_parameter_order=True)
        pred_ids = [int(row[0]) for row in conn.execute(ins, pred_rows)]
        latest = dict(zip((r.external_id for r in records), pred_ids, strict=True))
        updates = []
        for ext, rec in last.items():
            pid, current = status[ext]
            keep = current == STATUS_REVIEWED
            updates.append(
                {
                    "b_id": pid,
                    "b_name": _text(rec.fields.get("name")),
                    "b_description": _text(rec.fields.get("description")),
                    "b_fields": dict(rec.fields),
                    "b_status": STATUS_REVIEWED
                    if keep
                    else STATUS_PENDING
                    if rec.decision == DECISION_REVIEW
                    else STATUS_AUTO,
                    "b_latest": latest[ext],
                    "b_now": now,
                }
            )
        upd = (
            products.update()
            .where(products.c.id == bindparam("b_id"))
            .values(
                name=bindparam("b_name"),
                description=bindparam("b_description"),
                fields=bindparam("b_fields", type_=products.c.fields.type),
                status=bindparam("b_status"),
                latest_prediction_id=bindparam("b_latest"),
                updated_at=bindparam("b_now", type_=products.c.updated_at.type),
            )
        )
        conn.execute(upd, updates)
        audit = [
            {
                "at": now,
                "actor": actor,
                "action": "predict",
                "entity": "product",
                "entity_id": r.external_id,
                "before": None,
                "after": {"path": r.path_text, "decision": r.decision, "model_version": r.model_version},
            }
            for r in records
        ]
        conn.execute(insert(cast(Table, AuditEntry.__table__)), audit)
        return pred_ids

    # ---- reading --------------------------------------------------------------------------------
    def product(self, external_id: str) -> dict[str, Any]:
        with self._sessions() as s:
            product = self._get(s, external_id)
            pred = s.get(Prediction, product.latest_prediction_id) if product.latest_prediction_id else None
            review = s.scalars(
                select(Review).where(Review.product_id == product.id).order_by(Review.id.desc()).limit(1)
            ).first()
            out = _product_dict(product, pred)
            out["review"] = _review_dict(review) if review else None
            return out

    def _get(self, s: Session, external_id: str) -> Product:
        product = s.scalars(select(Product).where(Product.external_id == external_id)).first()
        if product is None:
            raise NotFoundError(f"no product with id {external_id!r} in the store")
        return product

    def _queue_query(self, category: str | None, model_version: str | None) -> Any:
        q = (
            select(Product, Prediction)
            .join(Prediction, Prediction.id == Product.latest_prediction_id)
            .where(Product.status == STATUS_PENDING)
        )
        if category:
            q = q.where(Prediction.category == category)
        if model_version:
            q = q.where(Prediction.model_version == model_version)
        return q

    def review_queue(
        self, *, category: str | None = None, model_version: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Products waiting for a human, most uncertain first (lowest best-path score), each with its latest
        prediction and latest review (tags included), as :meth:`product` gives one."""
        q = self._queue_query(category, model_version)
        q = q.order_by(Prediction.path_score.asc(), Product.id.asc()).limit(limit).offset(offset)
        with self._sessions() as s:
            rows = s.execute(q).all()
            reviews = self._latest_reviews(s, [p.id for p, _ in rows])
            out = []
            for product, pred in rows:
                item = _product_dict(product, pred)
                review = reviews.get(product.id)
                item["review"] = _review_dict(review) if review else None
                out.append(item)
            return out

    def _latest_reviews(self, s: Session, product_ids: Sequence[int]) -> dict[int, Review]:
        """The latest review of each of ``product_ids`` that has one."""
        out: dict[int, Review] = {}
        for i in range(0, len(product_ids), _IN_CHUNK):
            chunk = product_ids[i : i + _IN_CHUNK]
            latest = select(func.max(Review.id)).where(Review.product_id.in_(chunk)).group_by(Review.product_id)
            out.update({r.product_id: r for r in s.scalars(select(Review).where(Review.id.in_(latest)))})
        return out

    def queue_size(self, *, category: str | None = None, model_version: str | None = None) -> int:
        q = self._queue_query(category, model_version).with_only_columns(func.count())
        with self._sessions() as s:
            return int(s.execute(q).scalar_one())

    def facets(self) -> dict[str, list[str]]:
        """Categories and model versions present in the review queue (for the page's filters)."""
        q = self._queue_query(None, None)
        with self._sessions() as s:
            cats = s.execute(q.with_only_columns(Prediction.category).distinct()).scalars().all()
            versions = s.execute(q.with_only_columns(Prediction.model_version).distinct()).scalars().all()
        return {"categories": sorted(c for c in cats if c), "model_versions": sorted(versions)}

    def counts(self) -> dict[str, int]:
        with self._sessions() as s:
            rows = s.execute(select(Product.status, func.count()).group_by(Product.status)).all()
            n_pred = s.execute(select(func.count()).select_from(Prediction)).scalar_one()
            n_rev = s.execute(select(func.count()).select_from(Review)).scalar_one()
        out = {str(k): int(v) for k, v in rows}
        return {
            "products": sum(out.values()),
            **{f"status_{k}": out.get(k, 0) for k in (STATUS_PENDING, STATUS_AUTO, STATUS_REVIEWED)},
            "predictions": int(n_pred),
            "reviews": int(n_rev),
        }

    # ---- human decisions ------------------------------------------------------------------------
    def review(
        self,
        external_id: str,
        *,
        action: str,
        reviewer: str,
        path: Sequence[str] | None = None,
        tags: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record a decision: ``accept`` the model's path, ``correct`` it to ``path``, or ``edit_tags``.

        Writes the review and an audit entry (before/after) in one transaction and returns the review.
        """
        if action not in ACTIONS:
            raise ConfigError(f"unknown review action {action!r}; choose from {list(ACTIONS)}")
        if action == ACTION_CORRECT and not path:
            raise ConfigError("a correction needs the new path")
        with self.session() as s:
            product = self._get(s, external_id)
            pred = s.get(Prediction, product.latest_prediction_id) if product.latest_prediction_id else None
            last = s.scalars(
                select(Review).where(Review.product_id == product.id).order_by(Review.id.desc()).limit(1)
            ).first()
            current_path = last.path if last else (pred.path if pred else "")
            current_tags = dict(last.tags) if last else (dict(pred.tags) if pred else {})
            if action == ACTION_ACCEPT:
                if pred is None:
                    raise ConfigError(f"product {external_id!r} has no prediction to accept")
                new_path, new_tags = pred.path, dict(tags) if tags is not None else dict(pred.tags)
            elif action == ACTION_CORRECT:
                new_path = PATH_SEP.join(str(p) for p in path or [])
                new_tags = dict(tags) if tags is not None else current_tags
            else:
                if not current_path:
                    raise ConfigError(f"product {external_id!r} has no path yet; accept or correct it first")
                new_path, new_tags = current_path, dict(tags or {})
            before = {"status": product.status, "path": current_path, "tags": current_tags}
            review = Review(
                product_id=product.id,
                prediction_id=pred.id if pred else None,
                action=action,
                path=new_path,
                predicted_path=pred.path if pred else None,
                predicted_category=pred.category if pred else None,
                model_version=pred.model_version if pred else None,
                tags=new_tags,
                reviewer=reviewer,
                created_at=utcnow(),
            )
            s.add(review)
            product.status = STATUS_REVIEWED
            product.updated_at = utcnow()
            s.add(
                AuditEntry(
                    actor=reviewer,
                    action=f"review:{action}",
                    entity="product",
                    entity_id=external_id,
                    before=before,
                    after={"status": STATUS_REVIEWED, "path": new_path, "tags": new_tags},
                )
            )
            s.flush()
            return _review_dict(review)

    def acceptance_rates(self) -> list[dict[str, Any]]:
        """Per predicted top-level category: reviews, suggestions accepted as they were, and the rate."""
        accepted = func.sum(case((Review.action == ACTION_ACCEPT, 1), else_=0))
        q = (
            select(Review.predicted_category, func.count(), accepted)
            .where(Review.action.in_([ACTION_ACCEPT, ACTION_CORRECT]))
            .group_by(Review.predicted_category)
        )
        with self._sessions() as s:
            rows = s.execute(q).all()
        out = [
            {"category": cat or "", "reviewed": int(n), "accepted": int(a or 0), "rate": float(a or 0) / n}
            for cat, n, a in rows
            if n
        ]
        return sorted(out, key=lambda r: (-r["reviewed"], r["category"]))

    def audit(self, external_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if external_id is not None:
            q = q.where(AuditEntry.entity_id == external_id)
        with self._sessions() as s:
            return [
                {
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "action": e.action,
                    "entity": e.entity,
                    "entity_id": e.entity_id,
                    "before": e.before,
                    "after": e.after,
                }
                for e in s.scalars(q)
            ]

    def reviewed_labels(self) -> Iterator[dict[str, Any]]:
        """The latest human decision per product, with the product's text fields (for training)."""
        latest = select(func.max(Review.id)).group_by(Review.product_id).scalar_subquery()
        q = (
            select(Product, Review)
            .join(Review, Review.product_id == Product.id)
            .where(Review.id.in_(latest))
            .order_by(Product.id)
        )
        with self._sessions() as s:
            for product, review in s.execute(q).yield_per(1000):
                yield {
                    "id": product.external_id,
                    "fields": dict(product.fields or {}),
                    "path": split_path(review.path),
                    "tags": dict(review.tags or {}),
                    "action": review.action,
                    "reviewer": review.reviewer,
                    "reviewed_at": review.created_at.isoformat(),
                    "model_version": review.model_version,
                }


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _product_dict(product: Product, pred: Prediction | None) -> dict[str, Any]:
    return {
        "id": product.external_id,
        "name": product.name,
        "description": product.description,
        "fields": dict(product.fields or {}),
        "status": product.status,
        "prediction": None
        if pred is None
        else {
            "id": pred.id,
            "path": split_path(pred.path),
            "category": pred.category,
            "level_scores": list(pred.level_scores),
            "path_score": pred.path_score,
            "topk": list(pred.topk),
            "tags": dict(pred.tags or {}),
            "decision": pred.decision,
            "threshold": pred.threshold,
            "model_version": pred.model_version,
            "created_at": pred.created_at.isoformat(),
        },
    }


def _review_dict(review: Review) -> dict[str, Any]:
    return {
        "id": review.id,
        "action": review.action,
        "path": split_path(review.path),
        "predicted_path": split_path(review.predicted_path or ""),
        "tags": dict(review.tags or {}),
        "reviewer": review.reviewer,
        "model_version": review.model_version,
        "created_at": review.created_at.isoformat(),
    }
