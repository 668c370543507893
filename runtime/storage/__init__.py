"""Storage backends behind the engine's one seam (``Storage``); the in-memory one is the default."""
from .base import StaleSnapshot, Storage, StoreStats
from .memory import MemoryStorage

__all__ = ["MemoryStorage", "StaleSnapshot", "Storage", "StoreStats"]
