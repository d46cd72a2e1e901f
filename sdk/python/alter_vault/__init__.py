"""alter_vault: call APIs through the alter sidecar, which injects the
credential of a grant, so the application never holds the secret.

    from alter_vault import Vault, PolicyDeniedError

    vault = Vault()  # $ALTER_PROXY, else http://127.0.0.1:8080
    resp = vault.request("GET", "https://api.example.com/v1/things", grant_id=GRANT,
                         reason="nightly sync", context={"run_id": "run-42", "tool": "sync"})
    print(resp.status_code, resp.json())

Requests go to the sidecar as plain HTTP in absolute form; the sidecar
opens the TLS connection to the API. Refusals by the sidecar raise the
ProxyError subclass of their code; the API's own 4xx and 5xx are ordinary
responses. AsyncVault is the asyncio twin.
"""

from .aio import AsyncPendingApproval, AsyncVault
from .approval import PendingApproval
from .client import Vault
from .errors import (ERROR_TYPES, AlterVaultError, ApprovalDeniedError, ApprovalPendingError,
                     ApprovalTimeoutError, AuditUnavailableError, BadRequestError, CredentialUnavailableError, DestinationNotAllowedError,
                     GrantUnavailableError, InternalError, PassthroughDeniedError, PolicyDeniedError, ProxyError,
                     ProxyAuthRequiredError, RateLimitedError, RequestTooLargeError, SidecarTimeoutError,
                     SidecarUnreachableError, StoreUnavailableError, UpstreamError, UpstreamTimeoutError)
from .response import Response
from .wire import DEFAULT_PROXY, ENV_PROXY, MAX_CALL_CONTEXT_BYTES, ProxyAuth, basic_auth, bearer_auth


__all__ = [
    "Vault", "AsyncVault", "AsyncPendingApproval", "PendingApproval", "Response", "ProxyAuth", "basic_auth",
    "bearer_auth", "ENV_PROXY", "DEFAULT_PROXY", "MAX_CALL_CONTEXT_BYTES", "ERROR_TYPES", "AlterVaultError",
    "SidecarUnreachableError", "SidecarTimeoutError", "ProxyError", "BadRequestError", "GrantUnavailableError",
    "PolicyDeniedError", "PassthroughDeniedError", "UpstreamError", "UpstreamTimeoutError",
    "StoreUnavailableError", "AuditUnavailableError", "RequestTooLargeError", "ProxyAuthRequiredError",
    "InternalError", "DestinationNotAllowedError", "RateLimitedError", "ApprovalPendingError",
    "ApprovalDeniedError", "ApprovalTimeoutError", "CredentialUnavailableError",
]
