"""Idle keep-alive connections to the sidecar, kept per Vault, so a
program making thousands of calls pays one TCP handshake, not one per call,
and leaves no trail of TIME_WAIT sockets.

A connection goes back to the pool only when its answer was read to the
end and neither side asked to close. Before one is reused it is checked
for readability without waiting: an idle keep-alive connection has
nothing to say, so readable means the sidecar closed it (EOF) or sent
garbage, and it is dropped (urllib3's is_connection_dropped does the same).
"""

from __future__ import annotations

import http.client
import os
import select
import threading
from typing import List, Optional, Tuple

DEFAULT_MAX_IDLE = 8


def is_dropped(conn: http.client.HTTPConnection) -> bool:
    """True when an idle connection can no longer be used: no socket, or
    one that is readable now (EOF, reset, or bytes nobody asked for)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):  # select() fails on descriptors above 1023
            p = select.poll()
            p.register(sock, select.POLLIN)
            return bool(p.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True


class ConnectionPool:
    """At most max_idle idle connections to one sidecar; thread-safe.

    More concurrent requests than that open more connections, and the
    extras are closed when they are returned. After close(), returned
    connections are closed too, so a request still running when its Vault
    closes (an AsyncVault call that was cancelled) leaves nothing open.
    """

    def __init__(self, host: str, port: int, max_idle: int = DEFAULT_MAX_IDLE) -> None:
        if max_idle < 0:
            raise ValueError("max_idle must be 0 or more")
        self._host, self._port, self._max_idle = host, port, max_idle
        self._lock = threading.Lock()
        self._idle: List[http.client.HTTPConnection] = []
        self._closed = False
        self._pid = os.getpid()
        self.checked_out = 0  # handed out by get() and fresh(), not yet put() back

    @property
    def idle(self) -> int:
        """How many connections wait in the pool."""
        with self._locked():
            return len(self._idle)

    def _locked(self) -> threading.Lock:
        """The pool's lock, after taking the pool over in a forked child.

        A forked child shares the parent's sockets: an answer would reach
        whichever process reads first, so the child closes its copies
        (the parent's connections stay open) and opens its own. It also
        gets a new lock: the fork may have copied the old one held by a
        thread that does not exist in the child, which would wait forever.
        """
        if self._pid != os.getpid():
            self._pid, self._lock = os.getpid(), threading.Lock()
            inherited, self._idle = self._idle, []
            for conn in inherited:
                conn.close()
        return self._lock

    def get(self, timeout: Optional[float]) -> Tuple[http.client.HTTPConnection, bool]:
        """A connection whose socket operations time out after timeout
        seconds, and whether it was reused (it has served a request)."""
        with self._locked():
            self.checked_out += 1
        while True:
            with self._locked():
                # The most recently used one is the least likely to have
                # been closed by the sidecar's idle timeout.
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._new(timeout), False
            if is_dropped(conn):
                conn.close()
                continue
            conn.timeout = timeout
            assert conn.sock is not None
            conn.sock.settimeout(timeout)
            return conn, True

    def fresh(self, old: http.client.HTTPConnection, timeout: Optional[float]) -> http.client.HTTPConnection:
        """Closes old, checked out by get(), and hands out a new connection in
        its place (one put() returns it)."""
        old.close()
        return self._new(timeout)

    def put(self, conn: http.client.HTTPConnection, reusable: bool) -> None:
        """Takes back a connection from get() or fresh(): kept if reusable
        and there is room, else closed."""
        with self._locked():
            self.checked_out -= 1
            if reusable and not self._closed and conn.sock is not None and len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Closes the idle connections; those returned later are closed too."""
        with self._locked():
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _new(self, timeout: Optional[float]) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)
