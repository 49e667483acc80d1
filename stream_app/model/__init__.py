"""The decay model on the serving side (no PyTorch): contract, features, survival, runtime.

- `contract`: feature order, graph input/output names, opset, buckets, metadata keys.
- `features`: `encode_events(events, previous)` → arrays for `ModelRuntime.step`.
- `runtime`: `ModelRuntime(path).step(event_type, category_bucket, numeric, h, c)`.
- `survival`: closed-form P(return within H | silent τ), category interest, threshold times.
- `scoring`: the `score` command over an event log and a cutoff.
"""
