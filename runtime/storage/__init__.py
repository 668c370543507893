"""Storage backends behind the engine's one seam (``Storage``)."""
from .base import InputRecord, Key, Memo, StaleSnapshot, Storage, StoreStats
from .memory import MemoryStorage

__all__ = ["InputRecord", "Key", "Memo", "MemoryStorage", "StaleSnapshot", "Storage", "StoreStats"]
