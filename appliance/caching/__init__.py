"""Response caches (exact and semantic) and the sentence-embedding model behind them."""
from appliance.caching.answer import CachedAnswer, CacheStats, ResponseCacheConfig, request_key
from appliance.caching.response_cache import ResponseCache

__all__ = ["CachedAnswer", "CacheStats", "ResponseCache", "ResponseCacheConfig", "request_key"]
