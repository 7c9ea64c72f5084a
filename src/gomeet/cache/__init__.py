"""The Redis cache-aside layer. Knows keys and JSON, nothing of meetings or FastAPI."""

from gomeet.cache.factory import build_cache, cache_options, open_cache
from gomeet.cache.families import CacheKey, Family
from gomeet.cache.fill import MISSING, Missing
from gomeet.cache.leases import LoadFailed
from gomeet.cache.options import CacheOptions
from gomeet.cache.repository import CacheRepository

__all__ = [
    "MISSING",
    "CacheKey",
    "CacheOptions",
    "CacheRepository",
    "Family",
    "LoadFailed",
    "Missing",
    "build_cache",
    "cache_options",
    "open_cache",
]
