"""decay-stream: a real-time interest-decay engine for e-commerce event streams."""

__version__ = "0.1.0"
