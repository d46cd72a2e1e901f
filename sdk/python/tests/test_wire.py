"""The SDK against a stand-in sidecar: what it sends, and how it reads
every kind of answer."""

import json
import os
import unittest

import alter_vault
from alter_vault import (ERROR_TYPES, AlterVaultError, ApprovalPendingError, PendingApproval, ProxyError,
                         SidecarUnreachableError, Vault, basic_auth)

from .fake import FakeSidecar

GRANT = "6f1c2a7e-3b4d-4c5e-8f90-123456789abc"


def refuse(http_status, code, **extra):
    body = dict({"error": code, "message": "why it failed"}, **extra)
    headers = {"X-Alter-Error": code, "X-Alter-Request-Id": "req-1", "Content-Type": "application/json"}
    if code == "rate_limited":
        headers["Retry-After"] = "7"
    return lambda h: (http_status, headers, json.dumps(body).encode())


class WireTest(unittest.TestCase):
    def sidecar(self, answer):
        f = FakeSidecar(answer)
        self.addCleanup(f.close)
        v = Vault(f.url)
        self.addCleanup(v.close)
        return f, v

    def test_absolute_form_and_headers(self):
        f, v = self.sidecar(lambda h: (200, {"Content-Type": "application/json"}, b'{"ok":true}'))
        resp = v.request("POST", "https://api.example.test/v1/things?a=1", grant_id=GRANT, json={"n": 1},
                         params={"b": "2 3"}, headers={"X-Alter-Grant": "other", "Accept": "text/plain"},
                         reason="nightly sync", context={"run_id": "run-1", "tool": "search"})
        self.assertEqual((resp.status_code, resp.json(), resp.ok), (200, {"ok": True}, True))
        method, target, h, body = f.seen[0]
        self.assertEqual(method, "POST")
        self.assertEqual(target, "https://api.example.test/v1/things?a=1&b=2+3")
        self.assertEqual(h["Host"], "api.example.test")
        self.assertEqual(h.get_all("X-Alter-Grant"), [GRANT])  # the argument replaces the caller's header
        self.assertEqual(h["X-Alter-Reason"], "nightly sync")
        self.assertEqual((h["X-Alter-Run-Id"], h["X-Alter-Tool"], h["X-Alter-Thread-Id"]), ("run-1", "search", None))
        self.assertEqual((h["Content-Type"], h["Accept"], body), ("application/json", "text/plain", b'{"n":1}'))
        self.assertIsNone(h["Proxy-Authorization"])
        self.assertIsNone(h["Prefer"])

    def test_form_and_port(self):
        f, v = self.sidecar(lambda h: (204, {}, b""))
        v.request("PUT", "http://api.example.test:8443", grant_id=GRANT, data={"a": "b c"})
        _, target, h, body = f.seen[0]
        self.assertEqual((target, h["Host"], body), ("http://api.example.test:8443/", "api.example.test:8443", b"a=b+c"))
        self.assertEqual(h["Content-Type"], "application/x-www-form-urlencoded")

    def test_refused_before_sending(self):
        f, v = self.sidecar(lambda h: (200, {}, b""))
        long = "x" * 129
        for name, call, want in [
            ("context over the limit", lambda: v.request("GET", "https://a.test/", grant_id=GRANT, context={"tool": long}),
             "X-Alter-Tool is 129 bytes, at most 128"),
            ("context header over the limit", lambda: v.request("GET", "https://a.test/", grant_id=GRANT,
                                                                headers={"x-alter-run-id": long}), "X-Alter-Run-Id is 129"),
            ("unknown context key", lambda: v.request("GET", "https://a.test/", grant_id=GRANT, context={"run": "1"}), "run_id"),
            ("empty grant", lambda: v.request("GET", "https://a.test/", grant_id=""), "grant id is required"),
            ("ftp", lambda: v.request("GET", "ftp://a.test/", grant_id=GRANT), "only http:// and https://"),
            ("no host", lambda: v.request("GET", "https:///x", grant_id=GRANT), "no host"),
            ("user info", lambda: v.request("GET", "https://u:p@a.test/", grant_id=GRANT), "user information"),
            ("json and data", lambda: v.request("POST", "https://a.test/", grant_id=GRANT, json=1, data=b"x"), "not both"),
            ("bad method", lambda: v.request("GE T", "https://a.test/", grant_id=GRANT), "method"),
        ]:
            with self.subTest(name):
                with self.assertRaises(AlterVaultError) as cm:
                    call()
                self.assertIn(want, str(cm.exception))
                self.assertNotIn(long, str(cm.exception))
        self.assertEqual(f.seen, [])
        # exactly the limit is sent
        v.request("GET", "https://a.test/", grant_id=GRANT, context={"thread_id": long[1:]})
        self.assertEqual(f.seen[0][2]["X-Alter-Thread-Id"], long[1:])

    def test_every_code_is_typed(self):
        """Each code the sidecar sends becomes its own ProxyError subclass
        with every field; an unknown one is a plain ProxyError."""
        for code, cls in list(ERROR_TYPES.items()) + [("some_future_code", ProxyError)]:
            with self.subTest(code):
                extra = {"rule": "method"} if code == "policy_denied" else {}
                if code.startswith("upstream"):
                    extra = {"reason": "dns"}
                if code.startswith("approval"):
                    extra = {"approval_id": "a-1", "status": "pending", "expires_at": "2030-01-02T03:04:05.123456789Z",
                             "note": "no"}
                f, v = self.sidecar(refuse(403, code, **extra))
                with self.assertRaises(ProxyError) as cm:
                    v.request("GET", "https://api.example.test/", grant_id=GRANT)
                e = cm.exception
                self.assertIs(type(e), cls)
                self.assertEqual((e.status, e.code, e.message, e.request_id), (403, code, "why it failed", "req-1"))
                self.assertEqual(e.rule, extra.get("rule", ""))
                self.assertEqual(e.reason, extra.get("reason", ""))
                self.assertIn(code, str(e))
                self.assertNotIn(GRANT, str(e))
                if code == "rate_limited":
                    self.assertEqual(e.retry_after, 7)
                if code in ("upstream_error", "upstream_timeout"):
                    self.assertIsInstance(e, alter_vault.UpstreamError)
                    self.assertEqual(e.timeout, code == "upstream_timeout")
                if code == "approval_pending":
                    self.assertEqual((e.approval_id, e.expires_at), ("a-1", "2030-01-02T03:04:05.123456789Z"))
                    self.assertIsInstance(e.pending, PendingApproval)
                if code == "approval_denied":
                    self.assertEqual((e.approval_id, e.note), ("a-1", "no"))

    def test_malformed_refusal(self):
        _, v = self.sidecar(lambda h: (503, {"X-Alter-Error": "store_unavailable"}, b"<html>oops"))
        with self.assertRaises(alter_vault.StoreUnavailableError) as cm:
            v.request("GET", "https://api.example.test/", grant_id=GRANT)
        self.assertEqual(cm.exception.message, "Service Unavailable")

    def test_upstream_status_is_a_response(self):
        body = b'{"error":"upstream_error","message":"the API\'s own words"}'
        for status in (401, 403, 404, 500, 502, 503):
            with self.subTest(status):
                _, v = self.sidecar(lambda h: (status, {"Content-Type": "application/json; charset=utf-8"}, body))
                resp = v.request("GET", "https://api.example.test/", grant_id=GRANT)
                self.assertEqual((resp.status_code, resp.content, resp.ok), (status, body, False))
                self.assertEqual(resp.headers["content-type"], "application/json; charset=utf-8")

    def test_proxy_request_returns_pending(self):
        f, v = self.sidecar(refuse(202, "approval_pending", approval_id="a-2", status="pending",
                                   expires_at="2030-01-01T00:00:00Z"))
        p = v.proxy_request("DELETE", "https://api.example.test/x", grant_id=GRANT)
        self.assertIsInstance(p, PendingApproval)
        self.assertEqual((p.approval_id, p.expires_at), ("a-2", "2030-01-01T00:00:00Z"))
        self.assertEqual(f.seen[0][2]["Prefer"], "respond-async")

    def test_await_names_the_approval(self):
        """Retries name the approval and drop Prefer, follow a new id the
        sidecar names, and end with the approved request's answer."""
        answers = [refuse(202, "approval_pending", approval_id="a-1", expires_at="2030-01-01T00:00:00Z"),
                   refuse(403, "approval_pending", approval_id="a-2", expires_at="2030-01-01T00:00:00Z"),
                   lambda h: (201, {}, b"done")]
        f, v = self.sidecar(lambda h: answers.pop(0)(h))
        p = v.proxy_request("POST", "https://api.example.test/x", grant_id=GRANT, json={"a": 1})
        resp = p.await_approval(timeout=30)
        self.assertEqual((resp.status_code, resp.text, p.approval_id), (201, "done", "a-2"))
        self.assertEqual([s[2]["X-Alter-Approval"] for s in f.seen], [None, "a-1", "a-2"])
        self.assertEqual([s[2]["Prefer"] for s in f.seen], ["respond-async", None, None])
        self.assertEqual({s[3] for s in f.seen}, {b'{"a":1}'})

    def test_proxy_auth(self):
        for name, vault, want in [
            ("basic", lambda u: Vault(u, proxy_auth=basic_auth("app", "s3cret")), "Basic YXBwOnMzY3JldA=="),
            ("bearer", lambda u: Vault(u, proxy_auth=alter_vault.bearer_auth("tok")), "Bearer tok"),
            ("from the address", lambda u: Vault(u.replace("http://", "http://app:s3cret@")), "Basic YXBwOnMzY3JldA=="),
        ]:
            with self.subTest(name):
                f, _ = self.sidecar(lambda h: (200, {}, b""))
                v = vault(f.url)
                v.request("GET", "https://a.test/", grant_id=GRANT)
                self.assertEqual(f.seen[0][2]["Proxy-Authorization"], want)
                self.assertNotIn("s3cret", repr(v) + v.proxy_url)
        self.assertNotIn("s3cret", repr(basic_auth("app", "s3cret")))

    def test_address(self):
        old = os.environ.pop("ALTER_PROXY", None)
        self.addCleanup(lambda: os.environ.__setitem__("ALTER_PROXY", old) if old else None)
        self.assertEqual(Vault().proxy_url, "http://127.0.0.1:8080")
        os.environ["ALTER_PROXY"] = "127.0.0.1:9999"
        self.assertEqual(Vault().proxy_url, "http://127.0.0.1:9999")
        del os.environ["ALTER_PROXY"]
        for bad in ("https://127.0.0.1:1", "http://127.0.0.1:1/path", "http://u:pw@127.0.0.1:x"):
            with self.subTest(bad):
                with self.assertRaises(AlterVaultError) as cm:
                    Vault(bad)
                self.assertNotIn("pw", str(cm.exception))

    def test_sidecar_down(self):
        with self.assertRaises(SidecarUnreachableError) as cm:
            Vault("http://127.0.0.1:1").request("GET", "https://a.test/", grant_id=GRANT)
        self.assertIn("127.0.0.1:1", str(cm.exception))
        self.assertNotIsInstance(cm.exception, ProxyError)


class AsyncWireTest(unittest.IsolatedAsyncioTestCase):
    async def test_async_twin(self):
        f = FakeSidecar(lambda h: (200, {}, b"hi") if len(f.seen) > 1 else refuse(403, "policy_denied", rule="path")(h))
        self.addCleanup(f.close)
        async with alter_vault.AsyncVault(f.url, proxy_auth=basic_auth("app", "s")) as v:
            with self.assertRaises(alter_vault.PolicyDeniedError) as cm:
                await v.request("GET", "https://api.example.test/a?b=1", grant_id=GRANT)
            self.assertEqual(cm.exception.rule, "path")
            resp = await v.request("POST", "https://api.example.test/c", grant_id=GRANT, json=[1],
                                   context={"run_id": "r"}, reason="why")
        self.assertEqual((resp.status_code, resp.text), (200, "hi"))
        _, target, h, body = f.seen[1]
        self.assertEqual((target, h["Host"], h["X-Alter-Run-Id"], h["X-Alter-Reason"], body),
                         ("https://api.example.test/c", "api.example.test", "r", "why", b"[1]"))
        self.assertEqual(f.seen[0][1], "https://api.example.test/a?b=1")
        self.assertTrue(h["Proxy-Authorization"].startswith("Basic "))


if __name__ == "__main__":
    unittest.main()
