"""The route template of a request (`/api/v1/orders/{order_id}`), for logs, metrics and rate
limits: a label per route, never per raw path.

FastAPI puts the matched `APIRoute` in `scope["route"]`, but the path of a route declared on
an included router is relative to that router (`/{order_id}`). The full templates are read
once from the app's route tree and cached.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi.routing import iter_route_contexts


def _templates(app: Any) -> dict[int, str]:
    templates: dict[int, str] | None = getattr(app.state, "route_templates", None)
    if templates is None:
        templates = {
            id(context.original_route): context.path_format
            for context in iter_route_contexts(app.router.routes)
            if context.path_format is not None
        }
        app.state.route_templates = templates
    return templates


def route_template(scope: MutableMapping[str, Any]) -> str | None:
    """The template of the matched route, or None when no route matched."""
    route = scope.get("route")
    if route is None:
        return None
    template = _templates(scope["app"]).get(id(route))
    return template if template is not None else getattr(route, "path", None)
