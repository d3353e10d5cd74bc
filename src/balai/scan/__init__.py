"""The log scanner: logs against shared indicators; exports for detection engines."""
