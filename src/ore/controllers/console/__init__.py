"""The console API (``/console/api``): Dify's console paths and shapes."""

from fastapi import APIRouter

router = APIRouter()
