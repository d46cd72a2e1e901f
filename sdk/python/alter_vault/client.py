"""Vault: the synchronous client, on the standard library's http.client."""

from __future__ import annotations

import http.client
import socket
from typing import Any, Mapping, Optional, Union

from .approval import PendingApproval
from .errors import ApprovalPendingError, SidecarTimeoutError, SidecarUnreachableError
from .pool import DEFAULT_MAX_IDLE, ConnectionPool
from .response import Response
from .wire import Prepared, ProxyAuth, prepare, refusal, sidecar_address


class _Headers(dict):
    """Response headers, looked up in any case; repeated ones joined by ", "."""

    def __init__(self, msg: http.client.HTTPMessage) -> None:
        super().__init__()
        for k in msg.keys():
            if k.lower() not in self:
                super().__setitem__(k.lower(), ", ".join(msg.get_all(k) or []))

    def __getitem__(self, k: str) -> str:
        return super().__getitem__(k.lower())

    def get(self, k: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(k.lower(), default)

    def __contains__(self, k: object) -> bool:
        return isinstance(k, str) and super().__contains__(k.lower())


class Vault:
    """Sends requests through the alter sidecar, which injects the grant's
    credential. The application holds no secret and trusts no extra CA.

    The sidecar is ``proxy``, else ``$ALTER_PROXY``, else
    http://127.0.0.1:8080. ``proxy_auth`` (basic_auth or bearer_auth)
    authenticates to a sidecar with proxy_auth; user information in the
    address (http://name:secret@host:port) does the same.

    Safe to share between threads. Connections to the sidecar are kept
    alive and reused: up to max_idle wait between requests, and more
    concurrent requests open more, closed after use. close() (or leaving
    ``with Vault() as vault:``) closes them.
    """

    def __init__(self, proxy: Optional[str] = None, *, proxy_auth: Optional[ProxyAuth] = None,
                 timeout: Optional[float] = None, max_idle: int = DEFAULT_MAX_IDLE) -> None:
        self._host, self._port, self._auth = sidecar_address(proxy, proxy_auth)
        self.timeout = timeout
        self._pool = ConnectionPool(self._host, self._port, max_idle)

    def close(self) -> None:
        """Closes the idle connections to the sidecar. Requests still work
        afterwards, each on a connection of its own that is closed after it."""
        self._pool.close()

    def __enter__(self) -> "Vault":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def proxy_url(self) -> str:
        """The sidecar's address, never with credentials."""
        h = self._host if ":" not in self._host else "[" + self._host + "]"
        return "http://%s:%d" % (h, self._port)

    def __repr__(self) -> str:
        return "Vault(%r)" % self.proxy_url

    def request(self, method: str, url: str, *, grant_id: Optional[str], json: Any = None,
                data: Union[bytes, str, Mapping[str, Any], None] = None,
                params: Optional[Mapping[str, Any]] = None, headers: Optional[Mapping[str, str]] = None,
                reason: Optional[str] = None, context: Optional[Mapping[str, str]] = None,
                timeout: Optional[float] = None) -> Response:
        """Sends one request with grant_id's credential and returns the API's
        answer, whatever its status.

        json is sent as a JSON body; data as bytes, text, or a form (a
        mapping); params are added to the query. reason is recorded in the
        audit record (never put a secret in it); context maps run_id,
        thread_id and tool to the call-context headers (at most 128 bytes
        each). grant_id=None sends no grant (the sidecar's passthrough
        decides). timeout is seconds per socket operation.

        A refusal by the sidecar raises its ProxyError subclass; one that
        needs approval waits the sidecar's hold, then raises
        ApprovalPendingError, whose await_approval() waits on.
        """
        p = prepare(method, url, grant_id=grant_id, json=json, data=data, params=params, headers=headers,
                    reason=reason, context=context, auth=self._auth)
        return self._send(p, timeout if timeout is not None else self.timeout)

    def proxy_request(self, method: str, url: str, *, grant_id: Optional[str], json: Any = None,
                      data: Union[bytes, str, Mapping[str, Any], None] = None,
                      params: Optional[Mapping[str, Any]] = None, headers: Optional[Mapping[str, str]] = None,
                      reason: Optional[str] = None, context: Optional[Mapping[str, str]] = None,
                      timeout: Optional[float] = None) -> Union[Response, PendingApproval]:
        """request(), but a request that needs approval returns at once a
        PendingApproval (the sidecar's 202, asked for with Prefer:
        respond-async) instead of waiting; its await_approval() waits."""
        p = prepare(method, url, grant_id=grant_id, json=json, data=data, params=params, headers=headers,
                    reason=reason, context=context, auth=self._auth, respond_async=True)
        try:
            return self._send(p, timeout if timeout is not None else self.timeout)
        except ApprovalPendingError as e:
            assert e.pending is not None
            return e.pending

    def _send(self, p: Prepared, timeout: Optional[float]) -> Response:
        conn, reused = self._pool.get(timeout)
        reusable = False
        try:
            try:
                r = _exchange(conn, p)
            except (ConnectionResetError, BrokenPipeError):  # RemoteDisconnected is a ConnectionResetError
                # No answer came: the sidecar closed a kept-alive connection
                # as the request went out. Only a request that is safe to
                # send twice is sent again, once, on a new connection.
                if not (reused and p.replayable):
                    raise
                conn = self._pool.fresh(conn, timeout)
                r = _exchange(conn, p)
            err = refusal(r.status, r.getheader, r.read)
            resp = None if err is not None else Response(r.status, r.reason, _Headers(r.msg), r.read(), p.target)
            # Read to the end (isclosed) and nobody asked to close: the
            # next request can use the connection.
            reusable = r.isclosed() and not r.will_close
        except (socket.timeout, TimeoutError):
            raise SidecarTimeoutError("sidecar %s did not answer in time" % self.proxy_url) from None
        except (OSError, http.client.HTTPException) as e:
            raise SidecarUnreachableError("sidecar %s: %s" % (self.proxy_url, type(e).__name__ + ": " + str(e))) from None
        finally:
            self._pool.put(conn, reusable)
        if resp is not None:
            return resp
        assert err is not None
        if isinstance(err, ApprovalPendingError):
            err.pending = PendingApproval(self._send, p, err.approval_id, err.expires_at)
        raise err


def _exchange(conn: http.client.HTTPConnection, p: Prepared) -> http.client.HTTPResponse:
    """Sends p on conn and reads the answer's status line and headers."""
    conn.putrequest(p.method, p.target, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", p.host)
    for k, v in p.headers:
        conn.putheader(k, v)
    if p.body is not None or p.method in ("POST", "PUT", "PATCH"):
        conn.putheader("Content-Length", str(len(p.body or b"")))
    conn.endheaders(p.body)
    return conn.getresponse()
