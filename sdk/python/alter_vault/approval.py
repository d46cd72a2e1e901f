"""Waiting for a person's approval without asking twice.

A request that a grant's approval rule holds gets an approval id. Retrying
the same request with ``X-Alter-Approval: ID`` names that approval, so the
sidecar creates no second one: while it is pending the sidecar holds the
retry until it is decided or its hold (approvals.hold, 60 s by default)
ends; approved, the request goes through and its answer is the retry's;
denied, the answer is approval_denied. await_approval repeats such retries
until an answer that is not pending, or until its timeout.
"""

from __future__ import annotations

import datetime
import re
import time
from typing import Callable, Optional

from .errors import ApprovalPendingError, ApprovalTimeoutError
from .response import Response
from .wire import HEADER_APPROVAL, Prepared

# A retry answered faster than this is not held by the sidecar (hold: 0s):
# the next waits the rest of it, so a pending approval is asked about at
# most about once a second.
MIN_ATTEMPT_SECONDS = 1.0


def parse_time(s: str) -> Optional[float]:
    """An RFC 3339 time (Go's, up to nanoseconds) as a Unix time."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", s or "")
    if not m:
        return None
    frac = (m.group(2) or "")[:7]
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    try:
        return datetime.datetime.fromisoformat(m.group(1) + frac + zone).timestamp()
    except ValueError:
        return None


class PendingApproval:
    """A request waiting for a person's decision.

    ``approval_id`` names it (``alter approvals approve ID``); ``expires_at``
    is when it can no longer be decided (RFC 3339, as the sidecar said).
    """

    def __init__(self, send: Callable[[Prepared, Optional[float]], Response], prepared: Prepared,
                 approval_id: str, expires_at: str) -> None:
        self._send = send
        self._prepared = prepared
        self.approval_id = approval_id
        self.expires_at = expires_at

    def __repr__(self) -> str:
        return "PendingApproval(%r, expires_at=%r)" % (self.approval_id, self.expires_at)

    def await_approval(self, timeout: Optional[float] = None) -> Response:
        """Waits for the decision and returns the request's answer once it is
        approved (the request is then sent, once).

        Raises ApprovalDeniedError when a person denies it, and
        ApprovalTimeoutError when timeout seconds pass first (None: until the
        approval expires). If the approval expires or is used by another
        request meanwhile, the sidecar opens a new one for this request and
        the wait follows it (``approval_id`` changes). Any other refusal
        (rate_limited, grant_unavailable, ...) is raised as it comes.
        """
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        if deadline is None:
            exp = parse_time(self.expires_at)
            if exp is not None:
                deadline = start + max(0.0, exp - time.time())
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise ApprovalTimeoutError(self, time.monotonic() - start)
            attempt = time.monotonic()
            retry = self._prepared.with_header(HEADER_APPROVAL, self.approval_id, drop=("Prefer",))
            try:
                return self._send(retry, remaining)
            except TimeoutError:
                # The socket timed out: the sidecar was still holding the
                # retry when the deadline came.
                raise ApprovalTimeoutError(self, time.monotonic() - start) from None
            except ApprovalPendingError as e:
                if e.approval_id:
                    self.approval_id = e.approval_id
                    self.expires_at = e.expires_at or self.expires_at
            pause = MIN_ATTEMPT_SECONDS - (time.monotonic() - attempt)
            if deadline is not None:
                pause = min(pause, deadline - time.monotonic())
            if pause > 0:
                time.sleep(pause)
