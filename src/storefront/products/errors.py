"""The errors of the products domain."""

from __future__ import annotations

from pydantic import BaseModel, Field

from storefront.core.errors import Conflict, NotFound


class SkuTakenDetails(BaseModel):
    sku: str = Field(description="The SKU, upper-cased as it is stored.")


class SkuTaken(Conflict):
    """Another product has this SKU."""

    code, message = "SKU_TAKEN", "A product with this SKU already exists"
    details_model = SkuTakenDetails

    def __init__(self, sku: str) -> None:
        super().__init__(details={"sku": sku})


class ProductNotFound(NotFound):
    message = "Product not found"
