"""The worker's service side of the seam: its ports, batch loops, commit unit and timers.

`ports` is importable by the per-batch service (`stream_app.worker`); the loops above it speak
only to the ports, and a Faust adapter (`stream_app.runtime`) or the in-memory one (`memory`)
implements them.
"""
