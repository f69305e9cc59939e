"""kizuna.minerals (see docs/minerals.md)."""
