#!/usr/bin/env bash
# MWPD train -> validation comparison (linear, full fine-tune, partial fine-tune, fast mode, ensemble), inference
# throughput vs the Hugging Face pipeline, and the WDC-PAVE extractor, on a GPU machine. Finishes in < 8 min.
#
#   1. here (needs ../shared/data and the venv):   bash scripts/gpu_run.sh prepare
#      -> .gpu-carry/ (MWPD, WDC-PAVE and Taobao files, the bundled all-MiniLM-L6-v2 in fp16, ~55 MB),
#         ignored by git through .git/info/exclude
#   2. on the GPU machine, carrying .gpu-carry:     bash scripts/gpu_run.sh            (or --tiny for a smoke run)
#      -> $OUT/summary.json (every figure) and $OUT/log.txt
# No network is needed there: the project installs with --no-deps (the image has torch, transformers, pandas,
# scikit-learn, scipy, pyarrow, typer, rich, tqdm, safetensors, matplotlib).
set -uo pipefail
cd "$(dirname "$0")/.."
CARRY=.gpu-carry

if [ "${1:-}" = "prepare" ]; then
  set -e
  SRC=${SKUTAG_SHARED_DATA:-../shared/data}
  rm -rf "$CARRY"
  mkdir -p "$CARRY/data/mwpd2020" "$CARRY/data/wdc-pave/raw" "$CARRY/data/taobao-ner-zh"
  cp "$SRC/mwpd2020/train.json" "$SRC/mwpd2020/validation.json" "$CARRY/data/mwpd2020/"
  cp "$SRC/wdc-pave/raw/train_large.jsonl" "$SRC/wdc-pave/raw/test.jsonl" "$CARRY/data/wdc-pave/raw/"
  cp "$SRC/taobao-ner-zh/"*.txt "$CARRY/data/taobao-ner-zh/"
  ${PY:-.venv/bin/python} - "$CARRY/encoder" <<'PY'
import sys
import torch
from transformers import AutoModel
from skutag.models.neural.encoder import load_tokenizer, resolve_encoder
src, dst = resolve_encoder(None), sys.argv[1]
AutoModel.from_pretrained(src).to(torch.float16).save_pretrained(dst)
load_tokenizer(None).save_pretrained(dst)
PY
  mkdir -p .git/info
  grep -qx "/$CARRY/" .git/info/exclude 2>/dev/null || echo "/$CARRY/" >> .git/info/exclude
  du -sh "$CARRY"
  exit 0
fi

TINY=""
[ "${1:-}" = "--tiny" ] && TINY="--tiny"
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
PY=${PY:-python3}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
if ! $PY -c "import skutag" 2>/dev/null; then
  $PY -m pip install -q --no-deps --no-build-isolation --no-index -e . >/dev/null 2>&1 || export PYTHONPATH="$PWD/src:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}"
if [ -d "$CARRY/data" ]; then export SKUTAG_SHARED_DATA="$PWD/$CARRY/data"; fi
ENC=()
if [ -d "$CARRY/encoder" ]; then ENC=(--encoder "$PWD/$CARRY/encoder"); fi
STAGES=${STAGES:-linear,linear_balanced,full,fast,partial,ensemble,extractor,throughput,throughput_cpu,chinese}
WORK=$(mktemp -d /tmp/skutag-gpu.XXXX)
timeout "${LIMIT_S:-460}" $PY -m benchmarks.bench_transformer --stages "$STAGES" --out "$WORK/stages" \
  --models "$WORK/models" --device "${DEVICE:-auto}" "${ENC[@]}" $TINY 2>&1 | grep --line-buffered -v "Loading weights\|Writing model" | tee "$OUT/log.txt"
rc=${PIPESTATUS[0]}
[ -f "$WORK/stages/summary.json" ] && cp "$WORK/stages/summary.json" "$OUT/summary.json"
# a stage killed by the time limit leaves the finished stages' JSON files
[ -f "$OUT/summary.json" ] || $PY - "$WORK/stages" "$OUT/summary.json" <<'PY'
import json, pathlib, sys
d = pathlib.Path(sys.argv[1])
out = {p.stem: json.loads(p.read_text()) for p in sorted(d.glob("*.json"))} if d.is_dir() else {}
pathlib.Path(sys.argv[2]).write_text(json.dumps(out, indent=1))
PY
exit "$rc"
