"""`python -m bench.bare_upload PORT DIR`: the bare aiohttp upload handler the uploads case compares with.

THE ALTERNATIVE, for the benchmark only: what a user would write in a few lines with aiohttp and
nothing else. It streams the multipart 'file' field to DIR with plain blocking writes (the fastest
way for one upload at a time), fsyncs the file and the directory, then answers 201. No hashing, no
probe, no database, no limits: every cost our POST /transcribe has beyond this is what we measure.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

from aiohttp import BodyPartReader, web

CHUNK = 256 * 1024  # the fastest of 64 KiB, 256 KiB and 1 MiB for this handler on the bench machine


async def upload(request: web.Request) -> web.Response:
    folder: Path = request.app[FOLDER]
    reader = await request.multipart()
    stored = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name != "file":
            continue
        path = folder / uuid.uuid4().hex
        with path.open("wb") as fh:
            while chunk := await part.read_chunk(CHUNK):
                fh.write(chunk)
                stored += len(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return web.json_response({"bytes": stored}, status=201)


FOLDER = web.AppKey("folder", Path)


def main(argv: list[str]) -> int:
    port, folder = int(argv[0]), Path(argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    app = web.Application(client_max_size=0)
    app[FOLDER] = folder
    app.router.add_post("/upload", upload)
    app.router.add_get("/health", lambda request: _ok())
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
    return 0


async def _ok() -> web.Response:
    return web.json_response({"status": "ok"})


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
