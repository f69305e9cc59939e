"""kizuna.space (see docs/space.md)."""
