"""cachesrv: an in-memory cache server on trio that speaks the Redis protocol (RESP2/RESP3)."""

__version__ = "0.1.0"
