"""The app factory: wires settings, database, middleware, error handlers and domain routers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from storefront.auth.router import router as auth_router
from storefront.core import health, metrics
from storefront.core.config import Settings, get_settings
from storefront.core.database import create_database
from storefront.core.edge import EdgeConfig, EdgeMiddleware
from storefront.core.email import build_email_sender
from storefront.core.errors import install_error_handlers
from storefront.core.logging import configure_logging
from storefront.core.openapi import install_openapi, operation_id
from storefront.core.rate_limit import RateLimits
from storefront.core.request_checks import check_api_request
from storefront.core.security import AccessTokens, PasswordHasher
from storefront.orders.router import admin_router as orders_admin_router
from storefront.orders.router import router as orders_router
from storefront.products.router import admin_router as products_admin_router
from storefront.products.router import router as products_router
from storefront.users.router import admin_router as users_admin_router
from storefront.users.router import router as users_router

API_PREFIX = "/api/v1"
CORS_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "X-Request-ID",
    "If-None-Match",
]
EXPOSED_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "Idempotent-Replayed",
    "WWW-Authenticate",
    "ETag",
]


def api_router() -> APIRouter:
    api = APIRouter(
        prefix=API_PREFIX,
        dependencies=[Depends(check_api_request)],
    )
    api.include_router(auth_router, prefix="/auth")
    api.include_router(users_router, prefix="/users")
    api.include_router(products_router, prefix="/products")
    api.include_router(orders_router, prefix="/orders")
    api.include_router(users_admin_router, prefix="/admin/users")
    api.include_router(products_admin_router, prefix="/admin/products")
    api.include_router(orders_admin_router, prefix="/admin/orders")
    return api


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app for these settings (or the environment's); callable twice in one process."""
    settings = settings or get_settings()
    configure_logging(settings)
    docs = settings.effective_docs_enabled
    app = FastAPI(
        title="Storefront API",
        version="1.0.0",
        description="The backend of the Storefront online store.",
        lifespan=_lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        swagger_ui_oauth2_redirect_url="/docs/oauth2-redirect" if docs else None,
        swagger_ui_parameters={"persistAuthorization": True},
        generate_unique_id_function=operation_id,
        # FastAPI's native OpenTelemetry: off unless configured (it costs every request a
        # look-up of three providers even when none is set up).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    _build_state(app, settings)
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(health.router)
    if settings.metrics_enabled:
        app.include_router(metrics.router)
    app.include_router(api_router())
    _add_edge(app, settings)
    if settings.otel_enabled:
        # Imported only when on: with tracing off, no OpenTelemetry code loads or runs.
        from storefront.core.telemetry import instrument

        instrument(app, app.state.database.engine)
    return app


def _build_state(app: FastAPI, settings: Settings) -> None:
    """What every request shares: settings, database, limits, keys, hasher, mail sender."""
    app.state.settings = settings
    app.state.database = create_database(settings)
    app.state.rate_limits = RateLimits(settings)
    app.state.access_tokens = AccessTokens(settings)
    app.state.password_hasher = PasswordHasher.from_settings(settings)
    app.state.email_sender = build_email_sender(settings)
    app.state.metrics = metrics.Metrics() if settings.metrics_enabled else None


def _add_edge(app: FastAPI, settings: Settings) -> None:
    """One pure-ASGI layer for everything every request needs (core.edge)."""
    cors = {
        "allow_origins": settings.cors_origins,
        "allow_credentials": "*" not in settings.cors_origins,
        "allow_methods": ["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        "allow_headers": CORS_HEADERS,
        "expose_headers": EXPOSED_HEADERS,
        "max_age": 600,
    }
    app.add_middleware(
        EdgeMiddleware,
        config=EdgeConfig.from_settings(settings, cors),
        metrics=app.state.metrics,
        fixed_answers={health.LIVE_PATH: health.LIVE_BODY},
    )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    if not app.state.settings.is_test:
        # In a server process, everything built so far (modules, the app, its routes) lives
        # as long as the process: keep it out of the collector's scans, which would otherwise
        # stall requests. (A test run builds hundreds of apps: not there.)
        gc.freeze()
    try:
        yield
    finally:
        app.state.password_hasher.close()
        await app.state.rate_limits.aclose()
        await app.state.database.dispose()
