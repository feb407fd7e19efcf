# Berth scoring service: locked dependencies, non-root, serves an exported bundle (models/champion)
# or the registry champion (set MLFLOW_TRACKING_URI and BERTH_MODEL_SOURCE=registry).
#   berth export --out models/champion --sign-key keys/bundle_signing.pem && docker build -t berth .
#   docker run -p 8000:8000 -e BERTH_DATABASE_URL=postgresql+psycopg://... \
#     -v $PWD/keys/bundle_signing.pub.pem:/keys/bundle.pub.pem:ro -e BERTH_BUNDLE_PUBLIC_KEYS=/keys/bundle.pub.pem berth
# The service refuses a bundle folder that no trusted public key signed (docs/api.md, "Signed bundles").
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY src ./src
RUN uv sync --locked --no-dev --no-editable

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 berth
COPY --from=build /opt/venv /opt/venv
WORKDIR /home/berth/app
COPY --chown=berth:berth configs ./configs
COPY --chown=berth:berth models ./models
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    BERTH_HOST=0.0.0.0 \
    BERTH_PORT=8000 \
    BERTH_MODEL_SOURCE=/home/berth/app/models/champion \
    BERTH_DATABASE_URL=sqlite:////home/berth/app/data/berth.db \
    NUMBA_CACHE_DIR=/home/berth/.cache/numba
RUN mkdir -p data && chown berth:berth data
USER berth
# Compile the scoring kernels (features, BG/NBD, trees) and the request decoder into numba's cache
# now, not at the first start.
RUN python -c "from berth.bundle import warm_up; from berth.api import columnar; warm_up(); columnar.warm_up()"
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"
CMD ["berth", "serve"]
