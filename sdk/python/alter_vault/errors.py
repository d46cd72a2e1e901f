"""Typed errors for the sidecar's refusals.

Every answer the sidecar makes up itself carries the ``X-Alter-Error``
header; the SDK turns it into the exception for its code (``ERROR_TYPES``
maps every code of the proxy's contract, package errcode in the Go
module; test/sdks fails when the two lists differ). An answer without the
header is the upstream API's, and is returned as a normal response
whatever its status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Type

if TYPE_CHECKING:  # pragma: no cover
    from .approval import PendingApproval
    from .response import Response


class AlterVaultError(Exception):
    """Base of every error this package raises."""


class SidecarUnreachableError(AlterVaultError, ConnectionError):
    """The sidecar could not be reached, or hung up before answering."""


class SidecarTimeoutError(AlterVaultError, TimeoutError):
    """The sidecar did not answer within the request's timeout."""


class ProxyError(AlterVaultError):
    """A refusal made by the sidecar, not by the upstream API.

    Every typed refusal below is a ProxyError. Its fields are the sidecar's
    own words, written for clients: they never hold a secret.
    """

    status: int
    code: str
    message: str
    rule: str
    reason: str
    request_id: str
    body: Dict[str, Any]

    def __init__(self, status: int, code: str, message: str = "", rule: str = "", reason: str = "",
                 request_id: str = "", body: Optional[Dict[str, Any]] = None,
                 retry_after: Optional[int] = None) -> None:
        self.status, self.code, self.message = status, code, message
        self.rule, self.reason, self.request_id = rule, reason, request_id
        self.body = body or {}
        self.retry_after = retry_after
        super().__init__(self._text())

    def _text(self) -> str:
        s = "alter sidecar refused the request: " + self.code
        if self.rule:
            s += " (rule " + self.rule + ")"
        if self.reason:
            s += " (" + self.reason + ")"
        if self.message:
            s += ": " + self.message
        s += " [status %d" % self.status
        if self.request_id:
            s += ", request " + self.request_id
        return s + "]"


class BadRequestError(ProxyError):
    """The sidecar could not read the request (bad_request)."""


class GrantUnavailableError(ProxyError):
    """The grant is unknown, revoked or expired; retrying will not help."""


class PolicyDeniedError(ProxyError):
    """A rule of the grant refused the request; ``rule`` names it
    (destination, source_ip, actor, time_window, method, path)."""


class PassthroughDeniedError(ProxyError):
    """A request without a grant, and the sidecar's passthrough refuses it."""


class UpstreamError(ProxyError):
    """The sidecar could not reach the upstream or got no valid answer.

    ``reason`` says what failed (dns, connection_refused, tls_certificate,
    response_timeout, ...); ``timeout`` is true for upstream_timeout.
    """

    @property
    def timeout(self) -> bool:
        return self.code == "upstream_timeout"


class UpstreamTimeoutError(UpstreamError):
    """The upstream did not connect or answer in time (upstream_timeout)."""


class CredentialUnavailableError(ProxyError):
    """The grant's credential is minted (an OAuth2 token, a GitHub App token,
    a signed JWT) and the sidecar could not get one (credential_unavailable);
    ``reason`` says why (token_endpoint_unreachable, refresh_token_rejected,
    ...). Nothing was sent upstream."""


class StoreUnavailableError(ProxyError):
    """The sidecar cannot read its credential or approval store; a retry may
    succeed once the operator fixes it."""


class AuditUnavailableError(ProxyError):
    """The sidecar's durable audit log cannot be written, so nothing was sent."""


class RequestTooLargeError(ProxyError):
    """A body the sidecar must hold (to sign it, or for an approval) is over
    its max_signed_body."""


class ProxyAuthRequiredError(ProxyError):
    """The sidecar requires client authentication and none, or a wrong one,
    was sent (see ``Vault(proxy_auth=...)``)."""


class InternalError(ProxyError):
    """The sidecar failed in a way it did not expect."""


class DestinationNotAllowedError(ProxyError):
    """The client's profile is an egress allowlist and none of its grants
    reaches this destination."""


class RateLimitedError(ProxyError):
    """The grant's (or a parent's) rate or quota is used up, or too many of
    its approvals are pending. ``retry_after`` is seconds, when sent."""


class ApprovalDeniedError(ProxyError):
    """A person denied the request; ``note`` is what they wrote."""

    @property
    def approval_id(self) -> str:
        return str(self.body.get("approval_id", ""))

    @property
    def note(self) -> str:
        return str(self.body.get("note", ""))


class ApprovalPendingError(ProxyError):
    """The request waits for a person's approval and nobody decided within
    the sidecar's hold. ``pending`` can wait for the decision::

        try:
            resp = vault.request("POST", url, grant_id=g, json=order)
        except ApprovalPendingError as e:
            resp = e.await_approval(timeout=600)
    """

    pending: Optional["PendingApproval"] = None

    @property
    def approval_id(self) -> str:
        return str(self.body.get("approval_id", ""))

    @property
    def expires_at(self) -> str:
        return str(self.body.get("expires_at", ""))

    def await_approval(self, timeout: Optional[float] = None) -> "Response":
        """See PendingApproval.await_approval."""
        if self.pending is None:
            raise AlterVaultError("this refusal was not raised by a request that can be retried")
        return self.pending.await_approval(timeout=timeout)


class ApprovalTimeoutError(AlterVaultError, TimeoutError):
    """await_approval's timeout passed before anyone decided. ``pending``
    can wait again; the approval stays decidable until it expires."""

    def __init__(self, pending: "PendingApproval", waited: float) -> None:
        self.pending = pending
        self.approval_id = pending.approval_id
        super().__init__("approval %s was not decided within %.1fs" % (pending.approval_id, waited))


# ERROR_TYPES: every code of the sidecar's contract and its exception.
ERROR_TYPES: Dict[str, Type[ProxyError]] = {
    "bad_request": BadRequestError,
    "grant_unavailable": GrantUnavailableError,
    "policy_denied": PolicyDeniedError,
    "passthrough_denied": PassthroughDeniedError,
    "upstream_error": UpstreamError,
    "upstream_timeout": UpstreamTimeoutError,
    "credential_unavailable": CredentialUnavailableError,
    "store_unavailable": StoreUnavailableError,
    "audit_unavailable": AuditUnavailableError,
    "request_too_large": RequestTooLargeError,
    "proxy_auth_required": ProxyAuthRequiredError,
    "internal_error": InternalError,
    "destination_not_allowed": DestinationNotAllowedError,
    "rate_limited": RateLimitedError,
    "approval_pending": ApprovalPendingError,
    "approval_denied": ApprovalDeniedError,
}


def error_for(status: int, code: str, body: Dict[str, Any], request_id: str,
              retry_after: Optional[int]) -> ProxyError:
    """The typed error for one refusal; an unknown code is a plain ProxyError."""
    cls = ERROR_TYPES.get(code, ProxyError)

    def field(name: str) -> str:
        v = body.get(name)
        return v if isinstance(v, str) else ""

    return cls(status, code, field("message") or _status_text(status), field("rule"), field("reason"),
               request_id, body, retry_after)


def _status_text(status: int) -> str:
    from http import HTTPStatus
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
