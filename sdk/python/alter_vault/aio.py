"""AsyncVault: Vault for asyncio.

Each request runs the synchronous client in a worker thread
(asyncio.to_thread), so the twin needs nothing beyond the standard
library and behaves exactly like Vault, sharing its pool of kept-alive
connections. A cancelled call stops waiting at once; the thread's socket
ends with the request's timeout, and is closed rather than kept if the
AsyncVault has been closed meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Mapping, Optional, Union

from .approval import MIN_ATTEMPT_SECONDS, PendingApproval, parse_time
from .client import Vault
from .errors import ApprovalPendingError, ApprovalTimeoutError
from .pool import DEFAULT_MAX_IDLE
from .response import Response
from .wire import HEADER_APPROVAL, Prepared, ProxyAuth, prepare


class AsyncPendingApproval:
    """PendingApproval for AsyncVault: the same fields, and an awaitable
    await_approval with the same rules (see PendingApproval)."""

    def __init__(self, vault: "AsyncVault", prepared: Prepared, approval_id: str, expires_at: str) -> None:
        self._vault = vault
        self._prepared = prepared
        self.approval_id = approval_id
        self.expires_at = expires_at

    def __repr__(self) -> str:
        return "AsyncPendingApproval(%r, expires_at=%r)" % (self.approval_id, self.expires_at)

    async def await_approval(self, timeout: Optional[float] = None) -> Response:
        """Waits for the decision; see PendingApproval.await_approval."""
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        exp = parse_time(self.expires_at)
        if deadline is None and exp is not None:
            deadline = start + max(0.0, exp - time.time())
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise ApprovalTimeoutError(self, time.monotonic() - start)  # type: ignore[arg-type]
            attempt = time.monotonic()
            retry = self._prepared.with_header(HEADER_APPROVAL, self.approval_id, drop=("Prefer",))
            try:
                return await self._vault._send(retry, remaining)
            except TimeoutError:
                raise ApprovalTimeoutError(self, time.monotonic() - start) from None  # type: ignore[arg-type]
            except ApprovalPendingError as e:
                if e.approval_id:
                    self.approval_id, self.expires_at = e.approval_id, e.expires_at or self.expires_at
            pause = MIN_ATTEMPT_SECONDS - (time.monotonic() - attempt)
            if deadline is not None:
                pause = min(pause, deadline - time.monotonic())
            if pause > 0:
                await asyncio.sleep(pause)


class AsyncVault:
    """Vault for asyncio: the same arguments, answers and errors, awaitable."""

    def __init__(self, proxy: Optional[str] = None, *, proxy_auth: Optional[ProxyAuth] = None,
                 timeout: Optional[float] = None, max_idle: int = DEFAULT_MAX_IDLE) -> None:
        self._sync = Vault(proxy, proxy_auth=proxy_auth, timeout=timeout, max_idle=max_idle)

    @property
    def proxy_url(self) -> str:
        return self._sync.proxy_url

    def __repr__(self) -> str:
        return "AsyncVault(%r)" % self.proxy_url

    async def __aenter__(self) -> "AsyncVault":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """See Vault.close."""
        self._sync.close()  # closing sockets does not block: no thread needed

    async def request(self, method: str, url: str, *, grant_id: Optional[str], json: Any = None,
                      data: Union[bytes, str, Mapping[str, Any], None] = None,
                      params: Optional[Mapping[str, Any]] = None, headers: Optional[Mapping[str, str]] = None,
                      reason: Optional[str] = None, context: Optional[Mapping[str, str]] = None,
                      timeout: Optional[float] = None) -> Response:
        """See Vault.request."""
        p = prepare(method, url, grant_id=grant_id, json=json, data=data, params=params, headers=headers,
                    reason=reason, context=context, auth=self._sync._auth)
        return await self._send(p, timeout if timeout is not None else self._sync.timeout)

    async def proxy_request(self, method: str, url: str, *, grant_id: Optional[str], json: Any = None,
                            data: Union[bytes, str, Mapping[str, Any], None] = None,
                            params: Optional[Mapping[str, Any]] = None,
                            headers: Optional[Mapping[str, str]] = None, reason: Optional[str] = None,
                            context: Optional[Mapping[str, str]] = None,
                            timeout: Optional[float] = None) -> Union[Response, AsyncPendingApproval]:
        """See Vault.proxy_request."""
        p = prepare(method, url, grant_id=grant_id, json=json, data=data, params=params, headers=headers,
                    reason=reason, context=context, auth=self._sync._auth, respond_async=True)
        try:
            return await self._send(p, timeout if timeout is not None else self._sync.timeout)
        except ApprovalPendingError as e:
            assert isinstance(e.pending, AsyncPendingApproval)
            return e.pending

    async def _send(self, p: Prepared, timeout: Optional[float]) -> Response:
        try:
            return await asyncio.to_thread(self._sync._send, p, timeout)
        except ApprovalPendingError as e:
            if isinstance(e.pending, PendingApproval):
                e.pending = AsyncPendingApproval(self, p, e.approval_id, e.expires_at)  # type: ignore[assignment]
            raise
