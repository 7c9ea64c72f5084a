"""Operator surface of the cache: admin endpoints, `gomeet cache` commands, warming."""
