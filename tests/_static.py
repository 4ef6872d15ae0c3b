# SPDX-License-Identifier: MIT
"""A static site served for the browser tests (the book in tests/test_site.py, the browser site in
tests/test_lite.py): Python's ``http.server`` on a free port of 127.0.0.1, as docs/site.md and
docs/lite.md tell a reader to serve them."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(directory: Path) -> tuple[subprocess.Popen, str]:
    """An HTTP server of ``directory`` on 127.0.0.1, accepting connections: (the process, its address)."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return server, f"http://127.0.0.1:{port}"
