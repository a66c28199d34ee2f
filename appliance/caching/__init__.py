"""Response caches (exact and semantic) and the sentence-embedding model behind them."""
from appliance.caching.answer import CachedAnswer, AnswerCacheStats, ResponseCacheConfig, request_key
from appliance.caching.exact_cache import ExactCache

__all__ = ["CachedAnswer", "AnswerCacheStats", "ExactCache", "ResponseCacheConfig", "request_key"]
