"""The Redis cache-aside layer. Knows keys and JSON, nothing of meetings or FastAPI."""

from gomeet.cache.core import CacheOptions
from gomeet.cache.factory import build_cache, open_cache
from gomeet.cache.families import CacheKey, Family
from gomeet.cache.repository import CacheRepository

__all__ = ["CacheKey", "CacheOptions", "CacheRepository", "Family", "build_cache", "open_cache"]
