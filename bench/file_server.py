"""`python -m bench.file_server PORT DIR`: serves DIR's files (sendfile) for the URL-fetch measurement."""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web


def main() -> None:
    port, folder = int(sys.argv[1]), Path(sys.argv[2])
    app = web.Application()
    app.router.add_static("/", folder)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main()
