"""SQLAlchemy models of the products domain."""

from __future__ import annotations

import uuid

from sqlalchemy import CHAR, BigInteger, CheckConstraint, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from storefront.core.database import Base, TimestampMixin

SKU_MAX_LENGTH = 64
NAME_MAX_LENGTH = 200


class Product(TimestampMixin, Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_cents_non_negative"),
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        # The public keyset page (is_active, newest first); a B-tree is read backwards for
        # `ORDER BY created_at DESC, id DESC`.
        Index(
            "ix_products_active_created_at_id",
            "created_at",
            "id",
            postgresql_where=text("is_active"),
            sqlite_where=text("is_active"),
        ),
        # The admin page (every product, newest first).
        Index("ix_products_created_at_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    sku: Mapped[str] = mapped_column(String(SKU_MAX_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(CHAR(3))
    stock: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)
