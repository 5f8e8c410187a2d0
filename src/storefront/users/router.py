"""HTTP routes of the users domain."""

from fastapi import APIRouter

router = APIRouter(tags=["users"])
admin_router = APIRouter(tags=["admin"])
