"""SQLAlchemy models of the orders domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storefront.core.database import Base, TimestampMixin, utcnow


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


_STATUS_CHECK = "status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')"


class Order(TimestampMixin, Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(_STATUS_CHECK, name="status"),
        CheckConstraint("total_cents >= 0", name="total_cents_non_negative"),
        # The caller's keyset page, and the admin `user_id` filter.
        Index("ix_orders_user_id_created_at_id", "user_id", "created_at", "id"),
        # The admin page, unfiltered and by status.
        Index("ix_orders_created_at_id", "created_at", "id"),
        Index("ix_orders_status_created_at_id", "status", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.PENDING.value)
    currency: Mapped[str] = mapped_column(CHAR(3))
    total_cents: Mapped[int] = mapped_column(BigInteger)

    lines: Mapped[list[OrderLine]] = relationship(
        lazy="raise", order_by="OrderLine.position", cascade="all, delete-orphan"
    )
    history: Mapped[list[OrderHistory]] = relationship(
        lazy="raise",
        order_by=lambda: (OrderHistory.at, OrderHistory.id),
        cascade="all, delete-orphan",
    )


class OrderLine(Base):
    """A line as it was sold: SKU, name and unit price are copied at order time."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_cents >= 0", name="unit_price_cents_non_negative"),
        CheckConstraint("line_total_cents >= 0", name="line_total_cents_non_negative"),
        # Also the index of "the lines of these orders".
        UniqueConstraint("order_id", "position", name="uq_order_lines_order_id_position"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int]
    line_total_cents: Mapped[int] = mapped_column(BigInteger)


class OrderHistory(Base):
    __tablename__ = "order_history"
    __table_args__ = (CheckConstraint(_STATUS_CHECK, name="status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)


class IdempotencyRecord(Base):
    """The answer to a `POST /orders` made with an `Idempotency-Key`, replayed on a retry.

    A record exists only once its order is committed (they share the transaction): a request
    still running holds an advisory lock instead (PostgreSQL), and a failed one leaves nothing.
    """

    __tablename__ = "idempotency_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(CHAR(64))
    status_code: Mapped[int] = mapped_column(SmallInteger)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
