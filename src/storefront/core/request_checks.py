"""The checks every API request passes before its route, as one FastAPI dependency.

FastAPI solves each dependency with its own step (signature analysis, a cache look-up, a
call); the default rate limit and the input guards always run together, so they are one.
"""

from __future__ import annotations

from fastapi import Request

from storefront.core.input_guards import guard_request_input
from storefront.core.rate_limit import default_rate_limit


async def check_api_request(request: Request) -> None:
    """The default rate limit (429 first: a flood costs nothing more), then the input guards
    (415 / 422 for what no route may receive)."""
    await default_rate_limit(request)
    await guard_request_input(request)
