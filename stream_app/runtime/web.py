"""The worker's HTTP pages: Prometheus metrics and health."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stream_app.runtime.faust_consumer import DecayApp
from stream_app.service.context import ServiceContext

#: aiohttp takes the charset apart from the content type.
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST.split(";", 1)[0] + "; version=0.0.4"


def register_pages(app: DecayApp, ctx: ServiceContext) -> None:
    """/metrics, /health, /health/live and /health/ready on the app's web server."""

    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(ctx.metrics.registry), content_type=METRICS_CONTENT_TYPE)

    def stalled(web: Any) -> Any:
        """503 with the reasons while a partition makes no progress, else None."""
        reasons = ctx.progress.reasons(time.monotonic())
        return web.json({"status": "stalled", "reasons": reasons}, status=503) if reasons else None

    async def liveness_page(web: Any, request: Any) -> Any:
        return stalled(web) or web.json({"status": "ok"})

    async def readiness_page(web: Any, request: Any) -> Any:
        ready = ctx.settled()
        return stalled(web) or web.json(
            {"status": "ready" if ready else "recovering"}, status=200 if ready else 503
        )

    app.page("/metrics")(metrics_page)
    app.page("/health/live")(liveness_page)
    app.page("/health/ready")(readiness_page)
    app.page("/health", name="health")(liveness_page)
