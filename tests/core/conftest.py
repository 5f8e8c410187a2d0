"""Probe routes that exist only in tests: they raise, touch the database, echo a body."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from storefront.core.config import Settings
from storefront.core.database import ReadSessionDep, WriteSessionDep
from storefront.core.errors import Conflict
from storefront.core.request_checks import check_api_request
from storefront.main import create_app
from storefront.users.models import User

probe = APIRouter(prefix="/api/v1/_probe", tags=["probe"])


class EchoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50)
    password: str = Field(min_length=8, max_length=128)
    count: int = Field(default=1, ge=1, le=10)


@probe.get("/boom")
async def boom() -> dict[str, str]:
    raise RuntimeError("internal detail that must not leak")


@probe.get("/db")
async def database_round_trip(session: ReadSessionDep) -> dict[str, int]:
    value = (await session.execute(text("SELECT 1"))).scalar_one()
    return {"value": int(value)}


@probe.get("/slow-db")
async def slow_database(session: ReadSessionDep) -> dict[str, int]:
    await session.execute(text("SELECT 1"))
    await asyncio.sleep(1.5)  # holds its pooled connection
    return {"value": 1}


@probe.get("/cast")
async def cast_to_integer(value: str, session: ReadSessionDep) -> dict[str, int]:
    """A value the database itself refuses (PostgreSQL: SQLSTATE 22P02)."""
    result = await session.execute(text("SELECT CAST(:value AS integer)"), {"value": value})
    return {"value": int(result.scalar_one())}


@probe.post("/deadlock")
async def deadlock(session: WriteSessionDep) -> None:
    """What PostgreSQL answers the loser of a deadlock (SQLSTATE 40P01)."""
    await session.execute(
        text("DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$")
    )


@probe.post("/echo")
async def echo(body: EchoIn) -> dict[str, object]:
    return {"name": body.name, "count": body.count}


@probe.post("/write-then-conflict")
async def write_then_conflict(session: WriteSessionDep) -> None:
    session.add(User(email="rolled-back@example.com", full_name="x", password_hash="x"))
    await session.flush()
    raise Conflict("Deliberate conflict after a write")


@probe.get("/items/{item_id}")
async def get_item(item_id: uuid.UUID) -> dict[str, str]:
    return {"id": str(item_id)}


@probe.get("/big")
async def big() -> dict[str, list[str]]:
    return {"items": ["storefront"] * 500}


def with_probes(app: FastAPI) -> FastAPI:
    app.include_router(probe, dependencies=[Depends(check_api_request)])
    return app


@pytest.fixture
def build_app() -> Callable[[Settings], FastAPI]:
    return lambda settings: with_probes(create_app(settings))
