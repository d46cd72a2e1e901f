"""How a request is put on the wire to the sidecar, shared by Vault and
AsyncVault: the sidecar's address, proxy authentication, and the request
in absolute form ("GET https://api.example.com/v1 HTTP/1.1") on a plain
HTTP connection, so the application needs neither the sidecar's CA nor
any proxy setting.
"""

from __future__ import annotations

import base64
import json as jsonlib
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .errors import AlterVaultError, ProxyError, error_for

ENV_PROXY = "ALTER_PROXY"
DEFAULT_PROXY = "http://127.0.0.1:8080"

HEADER_GRANT = "X-Alter-Grant"
HEADER_REASON = "X-Alter-Reason"
HEADER_ERROR = "X-Alter-Error"
HEADER_REQUEST_ID = "X-Alter-Request-Id"
HEADER_APPROVAL = "X-Alter-Approval"
HEADER_RUN_ID = "X-Alter-Run-Id"
HEADER_THREAD_ID = "X-Alter-Thread-Id"
HEADER_TOOL = "X-Alter-Tool"
MAX_CALL_CONTEXT_BYTES = 128
CONTEXT_HEADERS = {"run_id": HEADER_RUN_ID, "thread_id": HEADER_THREAD_ID, "tool": HEADER_TOOL}

REPLAYABLE_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "TRACE"))
IDEMPOTENCY_HEADERS = frozenset(("idempotency-key", "x-idempotency-key"))

# A refusal's body is a few hundred bytes; anything larger is not one.
MAX_ERROR_BODY = 64 << 10


class ProxyAuth:
    """A Proxy-Authorization credential for a sidecar with proxy_auth. It
    never prints its value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    @property
    def header(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "ProxyAuth([redacted])"

    __str__ = __repr__


def basic_auth(name: str, secret: str) -> ProxyAuth:
    """``Proxy-Authorization: Basic name:secret``; name is the client's
    proxy_auth.clients name."""
    return ProxyAuth("Basic " + base64.b64encode((name + ":" + secret).encode()).decode())


def bearer_auth(token: str) -> ProxyAuth:
    """``Proxy-Authorization: Bearer token``."""
    return ProxyAuth("Bearer " + token)


def sidecar_address(proxy: Optional[str], auth: Optional[ProxyAuth]) -> Tuple[str, int, Optional[ProxyAuth]]:
    """(host, port, auth) of the sidecar named by proxy, else ALTER_PROXY,
    else DEFAULT_PROXY. User information in the address becomes Basic
    authentication unless auth is given. Errors never repeat the address,
    which may hold a password."""
    addr = proxy or os.environ.get(ENV_PROXY) or DEFAULT_PROXY
    if "://" not in addr:
        addr = "http://" + addr
    try:
        u = urllib.parse.urlsplit(addr)
        port = u.port or 80
    except ValueError:
        raise AlterVaultError("the sidecar address is not a URL") from None
    if u.scheme != "http" or not u.hostname or u.path not in ("", "/") or u.query:
        raise AlterVaultError("the sidecar address must be http://host:port (got scheme %r, host %r)"
                              % (u.scheme, u.hostname or ""))
    if u.username is not None and auth is None:
        auth = basic_auth(urllib.parse.unquote(u.username), urllib.parse.unquote(u.password or ""))
    return u.hostname, port, auth


@dataclass
class Prepared:
    """One request as the sidecar gets it; kept whole so an approved
    request can be sent again exactly."""

    method: str
    target: str  # the absolute-form request target
    host: str  # the Host header: the API's, not the sidecar's
    headers: List[Tuple[str, str]] = field(default_factory=list)
    body: Optional[bytes] = None

    @property
    def replayable(self) -> bool:
        """Whether sending it twice is harmless, so a reused connection the
        sidecar closed under it may be retried once: an idempotent method, or
        an idempotency key (Go's net/http rule)."""
        return self.method in REPLAYABLE_METHODS or any(k.lower() in IDEMPOTENCY_HEADERS for k, _ in self.headers)

    def with_header(self, name: str, value: str, drop: Tuple[str, ...] = ()) -> "Prepared":
        """A copy with name set to value and the headers in drop removed."""
        lower = {name.lower(), *(d.lower() for d in drop)}
        hs = [(k, v) for k, v in self.headers if k.lower() not in lower] + [(name, value)]
        return Prepared(self.method, self.target, self.host, hs, self.body)


def prepare(method: str, url: str, *, grant_id: Optional[str], json: Any = None,
            data: Union[bytes, str, Mapping[str, Any], None] = None,
            params: Optional[Mapping[str, Any]] = None, headers: Optional[Mapping[str, str]] = None,
            reason: Optional[str] = None, context: Optional[Mapping[str, str]] = None,
            auth: Optional[ProxyAuth] = None, respond_async: bool = False) -> Prepared:
    """Checks and builds one request; nothing is sent when it raises."""
    if not isinstance(method, str) or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", method):
        raise AlterVaultError("the method must be an HTTP token such as GET")
    try:
        u = urllib.parse.urlsplit(url)
        port = u.port
    except ValueError:
        raise AlterVaultError("the URL is not valid") from None
    if u.scheme not in ("http", "https"):
        raise AlterVaultError("only http:// and https:// URLs can be sent through the sidecar")
    if not u.hostname:
        raise AlterVaultError("the URL has no host")
    if u.username is not None or "@" in u.netloc:
        raise AlterVaultError("user information in the URL is not allowed; the sidecar injects credentials")
    if grant_id == "":
        raise AlterVaultError("a grant id is required (None sends the request without one)")
    if json is not None and data is not None:
        raise AlterVaultError("give json or data, not both")

    host = u.hostname if ":" not in u.hostname else "[" + u.hostname + "]"
    if port is not None:
        host += ":%d" % port
    path = urllib.parse.quote(u.path or "/", safe="/%:@!$&'()*+,;=-._~")
    query = u.query
    if params:
        extra = urllib.parse.urlencode(list(params.items()), doseq=True)
        query = query + "&" + extra if query else extra
    target = u.scheme + "://" + host + path + ("?" + query if query else "")

    hs: Dict[str, Tuple[str, str]] = {}  # lower-case name -> (name, value)

    def put(name: str, value: str) -> None:
        hs[name.lower()] = (name, value)

    body: Optional[bytes] = None
    if json is not None:
        body = jsonlib.dumps(json, separators=(",", ":")).encode()
        put("Content-Type", "application/json")
    elif isinstance(data, Mapping):
        body = urllib.parse.urlencode(list(data.items()), doseq=True).encode()
        put("Content-Type", "application/x-www-form-urlencoded")
    elif isinstance(data, str):
        body = data.encode()
    elif data is not None:
        body = bytes(data)
    for k, v in (headers or {}).items():
        put(k, v)
    for key, value in (context or {}).items():
        name = CONTEXT_HEADERS.get(key)
        if name is None:
            raise AlterVaultError("context key %r is not one of run_id, thread_id, tool" % key)
        if value:
            put(name, value)
    for name in CONTEXT_HEADERS.values():
        if name.lower() in hs:
            n = len(hs[name.lower()][1].encode())
            if n > MAX_CALL_CONTEXT_BYTES:  # the error names the header, never the value
                raise AlterVaultError("%s is %d bytes, at most %d" % (name, n, MAX_CALL_CONTEXT_BYTES))
    if reason:
        put(HEADER_REASON, reason)
    if grant_id is not None:
        put(HEADER_GRANT, grant_id)
    if respond_async:
        put("Prefer", "respond-async")
    if auth is not None:
        put("Proxy-Authorization", auth.header)
    hs.pop("host", None)
    return Prepared(method, target, host, list(hs.values()), body)


def refusal(status: int, get_header: Any, read_body: Any) -> Optional[ProxyError]:
    """The typed error for an answer the sidecar made up (it carries
    X-Alter-Error), else None. The sidecar strips X-Alter-* from upstream
    answers, so an API cannot forge one. read_body(n) reads at most n bytes."""
    code = get_header(HEADER_ERROR)
    if not code:
        return None
    raw = read_body(MAX_ERROR_BODY)
    try:
        body = jsonlib.loads(raw)
        if not isinstance(body, dict):
            body = {}
    except ValueError:
        body = {}  # a malformed body still leaves the header's code
    retry_after = None
    ra = get_header("Retry-After")
    if ra and ra.strip().isdigit():
        retry_after = int(ra.strip())
    return error_for(status, code, body, get_header(HEADER_REQUEST_ID) or "", retry_after)
