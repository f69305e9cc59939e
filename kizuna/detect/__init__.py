"""kizuna.detect (see docs/detect.md)."""
