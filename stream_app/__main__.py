"""`python -m stream_app` = the `decay-stream` command."""

from stream_app.cli import main

raise SystemExit(main())
