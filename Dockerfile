# syntax=docker/dockerfile:1
#
# Storefront API image.
#
#   docker build -t storefront:1.0.0 .
#   docker run --rm storefront:1.0.0 alembic upgrade head       # the init container / job
#   docker run --rm -p 8000:8000 --env-file prod.env storefront:1.0.0
#
# Two stages: the builder resolves the locked dependencies and installs the project into
# /app/.venv with uv; the runtime stage gets that venv plus alembic.ini and migrations/
# (ops run `alembic upgrade head` from /app), and nothing else: no uv, no compiler, no
# sources, no tests. Both stages use the same Python image, so the venv's interpreter
# (/usr/local/bin/python3.11) exists at the same path in both.
#
# The tags below are pinned by version; a release pipeline should also pin them by digest
# (`python:3.11-slim-bookworm@sha256:…`) so that a rebuild gets the same bytes.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------- builder
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM ${PYTHON_IMAGE} AS builder

COPY --from=uv /uv /uvx /bin/

# Compile .pyc at install time (the runtime never writes any); copy from the cache mount
# instead of hard-linking across file systems; use the image's Python, never a download.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app

# The dependencies alone first: this layer is rebuilt only when the lock changes, not on
# every edit under src/.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# Then the project itself, as a regular (non-editable) install into site-packages, so the
# venv does not point back at /app/src, which the runtime stage does not have. The build
# backend (hatchling) reads README.md for the package metadata.
COPY README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# ---------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="storefront" \
      org.opencontainers.image.description="Storefront: the backend of an online store (FastAPI)"

# STOREFRONT_PROJECT_ROOT tells storefront.core.migrations where alembic.ini and
# migrations/ are (the /health/ready schema check reads the head revision from there),
# whatever the working directory. PROMETHEUS_MULTIPROC_DIR makes /metrics add up the
# workers of `--workers 2` (without it each scrape sees one worker's counters); it is
# created below, writable by the app user only. With a read-only root file system
# (Kubernetes readOnlyRootFilesystem) mount an emptyDir there.
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STOREFRONT_ENVIRONMENT=production \
    STOREFRONT_PROJECT_ROOT=/app \
    PROMETHEUS_MULTIPROC_DIR=/tmp/storefront-metrics

# A fixed, numeric, unprivileged uid/gid: volume ownership is predictable and Kubernetes'
# runAsNonRoot can verify it. The code stays owned by root, so the app cannot modify it.
RUN groupadd --system --gid 10001 storefront \
    && useradd --system --uid 10001 --gid storefront --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin storefront \
    && install -d -o storefront -g storefront -m 0700 /tmp/storefront-metrics

WORKDIR /app
COPY --from=builder /app/.venv /app/.venv
COPY alembic.ini ./
COPY migrations ./migrations

USER 10001:10001

EXPOSE 8000

# PID 1 and signals. `storefront serve` runs as PID 1 without an init process, which is
# safe for this program: the kernel gives PID 1 no default signal actions, but the CLI
# installs a SIGTERM handler before uvicorn starts and uvicorn installs its own, so
# SIGTERM drains in-flight requests for up to STOREFRONT_GRACEFUL_SHUTDOWN_SECONDS (20 s
# by default) and exits 0; uvicorn's supervisor stops and waits for its own worker
# processes, and nothing else is spawned that could be orphaned into a zombie. We
# therefore ship no tini; compose.yaml still sets `init: true` (Docker's bundled tini)
# as a cheap guard, and on Kubernetes the pod's terminationGracePeriodSeconds must exceed
# the graceful-shutdown setting plus any preStop pause (docs/operations.md: 40 s = 10 s + 20 s
# + margin).
STOPSIGNAL SIGTERM

# Liveness only (the process answers); readiness (/health/ready: database reachable and
# schema at head) is the orchestrator's business. No curl in the slim image, so the
# stdlib: urlopen raises on a refused connection, a timeout or a non-2xx status, and the
# exit status is then 1 (unhealthy). /health/* is exempt from the Host check, so the
# probe works whatever STOREFRONT_ALLOWED_HOSTS says.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]

# Outside development `serve` never migrates: run `alembic upgrade head` (or
# `storefront migrate`) from /app, as a separate container, before the release.
CMD ["storefront", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
