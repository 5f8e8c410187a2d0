"""`storefront seed-demo`: a small demo catalogue for an empty development database."""

from __future__ import annotations

from storefront.core.config import Settings
from storefront.core.database import create_database
from storefront.products import repository, service
from storefront.products.schemas import ProductCreate

DEMO_PRODUCTS: tuple[dict[str, object], ...] = (
    {
        "sku": "MUG-CLASSIC",
        "name": "Classic ceramic mug",
        "price_cents": 1290,
        "stock": 120,
        "description": "330 ml stoneware mug, dishwasher safe.",
    },
    {
        "sku": "MUG-TRAVEL",
        "name": "Insulated travel mug",
        "price_cents": 2490,
        "stock": 45,
        "description": "Keeps coffee hot for six hours; leak-proof lid.",
    },
    {
        "sku": "TEE-LOGO-M",
        "name": "Logo T-shirt (M)",
        "price_cents": 1990,
        "stock": 60,
        "description": "Organic cotton, regular fit.",
    },
    {
        "sku": "TEE-LOGO-L",
        "name": "Logo T-shirt (L)",
        "price_cents": 1990,
        "stock": 3,
        "description": "Organic cotton, regular fit. Almost gone.",
    },
    {
        "sku": "HOODIE-GREY",
        "name": "Grey hoodie",
        "price_cents": 4990,
        "stock": 25,
        "description": "Brushed fleece, kangaroo pocket.",
    },
    {
        "sku": "CAP-NAVY",
        "name": "Navy cap",
        "price_cents": 1790,
        "stock": 80,
        "description": "Adjustable strap, embroidered logo.",
    },
    {
        "sku": "NOTEBOOK-A5",
        "name": "A5 dotted notebook",
        "price_cents": 890,
        "stock": 300,
        "description": "120 pages of 100 g/m2 paper, lay-flat binding.",
    },
    {
        "sku": "PEN-GEL-BLK",
        "name": "Black gel pen",
        "price_cents": 250,
        "stock": 1000,
        "description": "0.5 mm, quick-drying ink.",
    },
    {
        "sku": "TOTE-CANVAS",
        "name": "Canvas tote bag",
        "price_cents": 1490,
        "stock": 70,
        "description": "Heavy canvas, long handles.",
    },
    {
        "sku": "STICKER-PACK",
        "name": "Sticker pack",
        "price_cents": 490,
        "stock": 500,
        "description": "Ten weatherproof vinyl stickers.",
    },
    {
        "sku": "POSTER-A2",
        "name": "Limited poster (A2)",
        "price_cents": 2990,
        "stock": 0,
        "description": "Numbered print. Sold out.",
    },
    {
        "sku": "MUG-2019",
        "name": "2019 anniversary mug",
        "price_cents": 990,
        "stock": 12,
        "description": "Discontinued.",
        "is_active": False,
    },
)


async def seed_demo(settings: Settings) -> int:
    database = create_database(settings)
    try:
        async with database.unit_of_work() as session:
            existing = await repository.count(session)
            if existing:
                print(f"products table not empty ({existing} products): nothing seeded")  # noqa: T201
                return 0
            for values in DEMO_PRODUCTS:
                await service.create_product(session, ProductCreate.model_validate(values))
        print(f"seeded {len(DEMO_PRODUCTS)} demo products")  # noqa: T201
        return 0
    finally:
        await database.dispose()
