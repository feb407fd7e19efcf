#!/usr/bin/env bash
# Set everything up and run the main job on the embedded defaults (SQLite, local MLflow):
# simulate a port -> validate -> train, evaluate, register in MLflow -> export the champion
# (signed) -> score every customer into the database -> serve the API with a demo key and a curl example.
#   BERTH_DEMO_CUSTOMERS=3000 BERTH_PORT=8000 bash scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/_uv.sh
source scripts/_uv.sh
uv sync --locked --quiet

DATA=data/demo
CUSTOMERS="${BERTH_DEMO_CUSTOMERS:-3000}"
PORT="${BERTH_PORT:-8000}"
START=2024-01-01
DAYS=730
AS_OF=2025-12-30   # the last simulated day

uv run berth simulate --customers "$CUSTOMERS" --days "$DAYS" --start "$START" --seed 42 --out "$DATA"
uv run berth validate --data "$DATA" --quarantine "$DATA/quarantine.csv"
uv run berth train --data "$DATA" --config configs/train.yaml
[ -f keys/bundle_signing.pem ] || uv run berth keys create --out keys   # once: the bundle signing key pair
uv run berth export --out models/champion --sign-key keys/bundle_signing.pem
uv run berth score --data "$DATA" --as-of "$AS_OF" --output "$DATA/scores.csv" --to-db --bundle models/champion
KEY="$(uv run berth apikey create --scope score --scope admin --name quickstart | tail -n 1)"
# the riskiest customer who still ships (active or dozing), not one silent for most of a year
CUSTOMER="$(uv run python -m berth.demo "$DATA/scores.csv")"
uv run berth request --data "$DATA" --customer "$CUSTOMER" --as-of "$AS_OF" --out "$DATA/request.json"

cat <<MSG

Berth is starting on http://127.0.0.1:$PORT  (OpenAPI docs: http://127.0.0.1:$PORT/docs)
MLflow runs: uv run mlflow ui --backend-store-uri sqlite:///$(pwd)/mlflow.db

In another terminal, score the riskiest demo customer who still ships ($CUSTOMER) with its history:

  curl -s -X POST http://127.0.0.1:$PORT/v1/scores \\
       -H "X-API-Key: $KEY" -H "Content-Type: application/json" \\
       --data @$DATA/request.json

  curl -s http://127.0.0.1:$PORT/v1/customers/$CUSTOMER/score -H "X-API-Key: $KEY"
  curl -s http://127.0.0.1:$PORT/v1/model -H "X-API-Key: $KEY"

MSG
# the service serves only bundles signed by a trusted key
export BERTH_BUNDLE_PUBLIC_KEYS=keys/bundle_signing.pub.pem
exec uv run berth serve --bundle models/champion --port "$PORT"
