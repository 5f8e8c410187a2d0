"""Liveness and readiness probes (no prefix, no auth, no rate limit)."""

from __future__ import annotations

import asyncio
from typing import Literal

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from storefront.core.config import Settings
from storefront.core.database import Database
from storefront.core.error_schemas import ErrorBody
from storefront.core.errors import ServiceUnavailable, error_response
from storefront.core.logging import get_logger
from storefront.core.migrations import database_revisions, head_revisions

logger = get_logger("storefront.health")

router = APIRouter(prefix="/health", tags=["health"])

CheckState = Literal["ok", "unavailable", "behind", "unknown"]


class LiveStatus(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    status: Literal["ok"] = "ok"


class ReadinessChecks(BaseModel):
    database: CheckState
    migrations: CheckState


class ReadyStatus(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: ReadinessChecks


class NotReadyDetails(BaseModel):
    checks: ReadinessChecks


class NotReadyBody(ErrorBody):
    code: Literal["SERVICE_UNAVAILABLE"]
    details: NotReadyDetails


class NotReady(BaseModel):
    """The probe's answer and the error envelope in one object."""

    status: Literal["unavailable"]
    checks: ReadinessChecks
    error: NotReadyBody


class DatabaseNotReady(ServiceUnavailable):
    """The database is unreachable, or its schema is not at the migrations head."""

    details_model = NotReadyDetails


LIVE_PATH = "/health/live"
LIVE_BODY = LiveStatus().model_dump_json().encode()


@router.get("/live", response_model=LiveStatus)
async def live() -> Response:
    """The process is up. Never touches the database."""
    # A server answers this at the edge (`EdgeMiddleware`'s fixed answers, see main.py)
    # without entering the framework; this route documents it and serves CORS requests.
    return Response(LIVE_BODY, media_type="application/json")  # rendered once, at import


async def _database_revisions(database: Database, seconds: float) -> set[str]:
    async with asyncio.timeout(seconds), database.engine.connect() as connection:
        return await database_revisions(connection)


@router.get(
    "/ready",
    response_model=ReadyStatus,
    responses={503: {"model": NotReady, "description": "Not ready to serve traffic"}},
)
async def ready(request: Request) -> ReadyStatus | JSONResponse:
    """The database answers and its schema is at the migrations head."""
    database: Database = request.app.state.database
    settings: Settings = request.app.state.settings
    checks: dict[str, CheckState] = {"database": "ok", "migrations": "ok"}
    try:
        current = await _database_revisions(database, settings.db_pool_timeout)
    except Exception as exc:  # any failure to read the schema version means "not ready"
        logger.warning("readiness_database_failed", error_type=type(exc).__name__)
        checks = {"database": "unavailable", "migrations": "unknown"}
    else:
        heads = await anyio.to_thread.run_sync(head_revisions)
        if current != heads:
            checks["migrations"] = "behind"
    if all(state == "ok" for state in checks.values()):
        return ReadyStatus(status="ok", checks=ReadinessChecks.model_validate(checks))
    message = (
        "The database is unavailable"
        if checks["database"] != "ok"
        else "The database schema is not at the migrations head"
    )
    refusal = DatabaseNotReady(message, details={"checks": checks})
    return error_response(refusal, extra={"status": "unavailable", "checks": checks})
