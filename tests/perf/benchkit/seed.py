"""Seed Storefront's (migrated) schema with the data the baseline's `setup` seeds.

Same sizes and shapes as `baseline_app.py setup`: users `user1@bench.example.com` ... with
one shared password hash (made by Storefront's own PasswordHasher, so real logins work),
active products with ample stock, pending orders of 1-3 lines spread over 180 days with one
history row each. Rows go in with COPY, then `VACUUM (ANALYZE)`, as the baseline does, so
that autovacuum does not wake up during the first measurement.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from storefront.core.security import PasswordHasher

SEED_PASSWORD = "bench-password-1"
BCRYPT_COST = 12
EMAIL_FORMAT = "user{}@bench.example.com"
CURRENCY = "EUR"
PRODUCT_STOCK = 1_000_000
ORDER_AGE = timedelta(days=180)

Row = tuple[Any, ...]

USER_COLUMNS = (
    "id",
    "email",
    "full_name",
    "password_hash",
    "role",
    "is_active",
    "is_verified",
    "tokens_valid_after",
    "kept_login_id",
    "created_at",
    "updated_at",
)
PRODUCT_COLUMNS = (
    "id",
    "sku",
    "name",
    "description",
    "price_cents",
    "currency",
    "stock",
    "is_active",
    "created_at",
    "updated_at",
)
ORDER_COLUMNS = ("id", "user_id", "status", "currency", "total_cents", "created_at", "updated_at")
LINE_COLUMNS = (
    "id",
    "order_id",
    "position",
    "product_id",
    "sku",
    "name",
    "unit_price_cents",
    "quantity",
    "line_total_cents",
)
HISTORY_COLUMNS = ("id", "order_id", "status", "at", "actor_id")


@dataclass(frozen=True)
class SeedSizes:
    """The baseline's defaults; both sides are seeded with these."""

    users: int = 1000
    products: int = 500
    orders: int = 50_000
    seed: int = 1

    def baseline_args(self) -> list[str]:
        return [
            f"--users={self.users}",
            f"--products={self.products}",
            f"--orders={self.orders}",
            f"--seed={self.seed}",
        ]


@dataclass
class SeedRows:
    users: list[Row] = field(default_factory=list)
    products: list[Row] = field(default_factory=list)
    orders: list[Row] = field(default_factory=list)
    lines: list[Row] = field(default_factory=list)
    history: list[Row] = field(default_factory=list)

    def tables(self) -> list[tuple[str, tuple[str, ...], list[Row]]]:
        return [
            ("users", USER_COLUMNS, self.users),
            ("products", PRODUCT_COLUMNS, self.products),
            ("orders", ORDER_COLUMNS, self.orders),
            ("order_lines", LINE_COLUMNS, self.lines),
            ("order_history", HISTORY_COLUMNS, self.history),
        ]

    def summary(self) -> str:
        return (
            f"{len(self.users)} users, {len(self.products)} products, {len(self.orders)} "
            f"orders, {len(self.lines)} order lines, {len(self.history)} history rows"
        )


def email_of(number: int) -> str:
    return EMAIL_FORMAT.format(number)


def _user_rows(count: int, password_hash: str, now: datetime) -> list[Row]:
    rows: list[Row] = []
    for number in range(1, count + 1):
        created = now - timedelta(days=400, seconds=number)
        rows.append(
            (
                uuid.uuid4(),
                email_of(number),
                f"Bench User {number}",
                password_hash,
                "customer",
                True,  # is_active
                True,  # is_verified
                None,  # tokens_valid_after
                None,  # kept_login_id
                created,
                created,
            )
        )
    return rows


def _product_rows(count: int, rnd: random.Random, now: datetime) -> list[Row]:
    rows: list[Row] = []
    for number in range(1, count + 1):
        created = now - timedelta(days=365) + timedelta(minutes=number)
        rows.append(
            (
                uuid.uuid4(),
                f"SKU-{number:05d}",
                f"Product {number}",
                f"Description of bench product {number}.",
                rnd.randint(100, 100_000),
                CURRENCY,
                PRODUCT_STOCK,
                True,
                created,
                created,
            )
        )
    return rows


def _add_order(rows: SeedRows, user_id: uuid.UUID, rnd: random.Random, now: datetime) -> None:
    order_id = uuid.uuid4()
    age = timedelta(
        seconds=rnd.randint(60, int(ORDER_AGE.total_seconds())),
        microseconds=rnd.randint(0, 999_999),
    )
    created = now - age
    total = 0
    for position, product in enumerate(rnd.sample(rows.products, rnd.randint(1, 3))):
        product_id, sku, name, price = product[0], product[1], product[2], product[4]
        quantity = rnd.randint(1, 5)
        total += price * quantity
        rows.lines.append(
            (
                uuid.uuid4(),
                order_id,
                position,
                product_id,
                sku,
                name,
                price,
                quantity,
                price * quantity,
            )
        )
    rows.orders.append((order_id, user_id, "pending", CURRENCY, total, created, created))
    rows.history.append((uuid.uuid4(), order_id, "pending", created, user_id))


def build_rows(sizes: SeedSizes, password_hash: str) -> SeedRows:
    """Every row to load, generated the way the baseline's `setup` generates its own."""
    rnd = random.Random(sizes.seed)
    now = datetime.now(UTC)
    rows = SeedRows(
        users=_user_rows(sizes.users, password_hash, now),
        products=_product_rows(sizes.products, rnd, now),
    )
    for index in range(sizes.orders):
        _add_order(rows, rows.users[index % sizes.users][0], rnd, now)
    return rows


async def _hash_password() -> str:
    # One hash at cost 12, reused for every user: hashing 1,000 would take minutes.
    return await PasswordHasher(BCRYPT_COST).hash(SEED_PASSWORD)


async def _load(dsn: str, rows: SeedRows) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            for table, columns, records in rows.tables():
                await connection.copy_records_to_table(table, records=records, columns=columns)
        await connection.execute("VACUUM (ANALYZE)")
    finally:
        await connection.close()


async def _seed(dsn: str, sizes: SeedSizes) -> str:
    started = time.perf_counter()
    rows = build_rows(sizes, await _hash_password())
    await _load(dsn, rows)
    return f"{rows.summary()} in {time.perf_counter() - started:.1f} s"


def seed_storefront(dsn: str, sizes: SeedSizes) -> str:
    """Load the bench data into a migrated, empty Storefront database (asyncpg DSN)."""
    return asyncio.run(_seed(dsn, sizes))
