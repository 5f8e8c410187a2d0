"""The errors of the orders domain."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from pydantic import BaseModel, Field

from storefront.core.errors import Conflict, NotFound, ValidationFailed
from storefront.orders.models import OrderStatus


class OrderNotFound(NotFound):
    message = "Order not found"


class StockShortfall(BaseModel):
    product_id: uuid.UUID
    requested: int
    available: int


class InsufficientStockDetails(BaseModel):
    products: list[StockShortfall] = Field(description="Every line that is short, not only one.")


class InsufficientStock(Conflict):
    """Not enough stock for some lines; nothing was taken."""

    code, message = "INSUFFICIENT_STOCK", "Not enough stock for some products"
    details_model = InsufficientStockDetails

    def __init__(self, short: Iterable[StockShortfall]) -> None:
        super().__init__(details={"products": [line.model_dump(mode="json") for line in short]})


# The refusals of an order's lines that have no code of their own: `VALIDATION_ERROR`, with
# the line's field and a `type` saying why.


def _line_error(index: int, message: str, type_: str) -> dict[str, str]:
    return {"field": f"body.items.{index}.product_id", "message": message, "type": type_}


class DuplicateProduct(ValidationFailed):
    """A product appears on more than one line."""

    message = "A product may appear only once per order"

    def __init__(self, line: int) -> None:
        errors = [_line_error(line, self.message, "duplicate_product")]
        super().__init__(details={"errors": errors})


class ProductUnavailable(ValidationFailed):
    """Lines name products that do not exist or are not for sale (every such line)."""

    message = "Unknown or inactive product"

    def __init__(self, lines: Iterable[int]) -> None:
        errors = [_line_error(line, self.message, "product_unavailable") for line in lines]
        super().__init__(details={"errors": errors})


class CurrencyMismatch(ValidationFailed):
    """A line's product is priced in another currency than the order's first line."""

    def __init__(self, line: int, currency: str) -> None:
        message = f"All items of an order must be in one currency ({currency})"
        errors = [_line_error(line, message, "currency_mismatch")]
        super().__init__(message, details={"errors": errors})


class InvalidTransitionDetails(BaseModel):
    from_: OrderStatus = Field(alias="from", description="The order's status now.")
    to: OrderStatus


class InvalidTransition(Conflict):
    """The order cannot move from its status to the one asked for."""

    code = "INVALID_TRANSITION"
    details_model = InvalidTransitionDetails

    def __init__(self, current: str, to: str) -> None:
        super().__init__(
            f"An order cannot go from {current} to {to}", details={"from": current, "to": to}
        )


class IdempotencyInProgress(Conflict):
    """The first request with this Idempotency-Key is still running: retry shortly."""

    code = "IDEMPOTENCY_IN_PROGRESS"
    message = "A request with this Idempotency-Key is still being processed; retry shortly"


class IdempotencyKeyMismatch(ValidationFailed):
    """This Idempotency-Key was used with a different request."""

    code = "IDEMPOTENCY_KEY_MISMATCH"
    message = "This Idempotency-Key was used with a different request"

    def __init__(self) -> None:
        errors = [
            {
                "field": "header.Idempotency-Key",
                "message": self.message,
                "type": "idempotency_key_mismatch",
            }
        ]
        super().__init__(details={"errors": errors})
