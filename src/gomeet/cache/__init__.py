"""The Redis cache-aside layer. Knows keys and JSON, nothing of meetings or FastAPI."""

from gomeet.cache.families import CacheKey, Family
from gomeet.cache.repository import CacheRepository

__all__ = ["CacheKey", "CacheRepository", "Family"]
