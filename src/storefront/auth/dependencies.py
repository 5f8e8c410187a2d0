"""FastAPI dependencies of the auth routes: the service, and who is logging in."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from storefront.auth.service import AuthService, ClientInfo
from storefront.core.rate_limit import client_ip


async def get_auth_service(request: Request) -> AuthService:
    state = request.app.state
    return AuthService(state.settings, state.password_hasher, state.access_tokens)


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]


async def get_client_info(request: Request) -> ClientInfo:
    return ClientInfo(user_agent=request.headers.get("user-agent"), ip=client_ip(request))


ClientInfoDep = Annotated[ClientInfo, Depends(get_client_info)]
