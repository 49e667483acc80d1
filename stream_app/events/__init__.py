"""Event records and their strict decoding (pure: bytes in, Event or Rejected out)."""

from stream_app.events.schema import Event, EventType

__all__ = ["Event", "EventType"]
