"""The SDK against the real sidecar that test/sdks starts (go test
./test/sdks): every refusal it can be made to give, and approvals decided
from the CLI while await_approval waits. Skipped without that sidecar."""

import json
import os
import subprocess
import threading
import unittest
import uuid

import alter_vault as av

ENV = {k[len("ALTER_SDK_TEST_"):]: v for k, v in os.environ.items() if k.startswith("ALTER_SDK_TEST_")}


@unittest.skipUnless(ENV, "needs the sidecar of go test ./test/sdks")
class IntegrationTest(unittest.TestCase):
    def setUp(self):
        self.vault = av.Vault(proxy_auth=av.basic_auth(ENV["CLIENT"], ENV["CLIENT_SECRET"]))
        self.url = ENV["URL"]

    def alter(self, *args):
        return subprocess.run([ENV["ALTER"], "--home", ENV["HOME"], *args], check=True, capture_output=True, text=True).stdout

    def decide_when_listed(self, approval_id, *decision):
        """Waits until the CLI lists the approval, then decides it with the CLI."""
        while approval_id not in self.alter("approvals", "list", "--json"):
            pass
        self.alter("approvals", *decision)

    def test_request(self):
        resp = self.vault.request("GET", self.url + "/v1/things", grant_id=ENV["GRANT"], params={"q": "a b"},
                                  reason="sdk test", context={"run_id": "run-1", "thread_id": "t", "tool": "search"})
        body = resp.json()
        self.assertEqual(resp.status_code, 200)
        self.assertEqual((body["path"], body["query"], body["authorized"], body["leaked"]), ("/v1/things", "q=a+b", True, {}))
        resp = self.vault.request("POST", self.url + "/missing", grant_id=ENV["GRANT"], json={"a": 1})
        self.assertEqual((resp.status_code, resp.json()["body"]), (404, '{"a":1}'))  # the API's own 404

    def test_refusals(self):
        v, u = self.vault, self.url
        for name, call, cls, check in [
            ("policy_denied", lambda: v.request("DELETE", u + "/x", grant_id=ENV["GRANT"]), av.PolicyDeniedError,
             lambda e: e.rule == "method"),
            ("grant_unavailable", lambda: v.request("GET", u, grant_id=str(uuid.uuid4())), av.GrantUnavailableError, None),
            ("proxy_auth_required", lambda: av.Vault().request("GET", u, grant_id=ENV["GRANT"]), av.ProxyAuthRequiredError,
             lambda e: e.status == 407),
            ("upstream_error", lambda: v.request("GET", "https://down.example.test/", grant_id=ENV["GRANT_DOWN"]),
             av.UpstreamError, lambda e: e.reason == "connection_refused" and not e.timeout),
            ("upstream_timeout", lambda: v.request("GET", u + "/slow", grant_id=ENV["GRANT"]), av.UpstreamTimeoutError,
             lambda e: e.timeout and e.status == 504),
            ("bad_request", lambda: v.request("POST", u, grant_id=ENV["GRANT_APPROVAL"], headers={"X-Alter-Approval": "nope"}),
             av.BadRequestError, lambda e: "X-Alter-Approval" in e.message),
            ("request_too_large", lambda: v.request("POST", u, grant_id=ENV["GRANT_APPROVAL"], data=b"x" * 2048),
             av.RequestTooLargeError, lambda e: e.status == 413),
        ]:
            with self.subTest(name):
                with self.assertRaises(cls) as cm:
                    call()
                self.assertEqual(cm.exception.code, name)
                self.assertTrue(cm.exception.request_id or name == "proxy_auth_required")
                if check:
                    self.assertTrue(check(cm.exception), cm.exception)

    def test_rate_limited(self):
        self.vault.request("GET", self.url, grant_id=ENV["GRANT_RATE"])
        with self.assertRaises(av.RateLimitedError) as cm:
            self.vault.request("GET", self.url, grant_id=ENV["GRANT_RATE"])
        self.assertGreater(cm.exception.retry_after, 0)

    def test_pending_after_the_hold(self):
        with self.assertRaises(av.ApprovalPendingError) as cm:
            self.vault.request("POST", self.url + "/held", grant_id=ENV["GRANT_APPROVAL"], json={"n": str(uuid.uuid4())})
        e = cm.exception
        self.assertEqual((e.status, e.rule), (403, "approval"))
        uuid.UUID(e.approval_id)
        self.assertIsNotNone(e.pending)
        with self.assertRaises(av.ApprovalTimeoutError) as cm:
            e.await_approval(timeout=0.3)
        self.assertEqual(cm.exception.approval_id, e.approval_id)

    def wait_in_thread(self, pending):
        out = {}

        def run():
            try:
                out["resp"] = pending.await_approval(timeout=60)
            except Exception as err:  # handed to the test thread
                out["err"] = err
        th = threading.Thread(target=run)
        th.start()
        return th, out

    def test_approved_from_the_cli(self):
        order = {"refund": str(uuid.uuid4())}
        p = self.vault.proxy_request("POST", self.url + "/v1/refunds", grant_id=ENV["GRANT_APPROVAL"], json=order,
                                     reason="refund")
        self.assertIsInstance(p, av.PendingApproval)
        th, out = self.wait_in_thread(p)
        self.decide_when_listed(p.approval_id, "approve", p.approval_id, "--note", "ok")
        th.join(60)
        self.assertNotIn("err", out)
        resp = out["resp"]
        self.assertEqual((resp.status_code, resp.json()["body"], resp.json()["method"]), (200, json.dumps(order, separators=(",", ":")), "POST"))
        # the approval let one request through: the same request asks anew
        again = self.vault.proxy_request("POST", self.url + "/v1/refunds", grant_id=ENV["GRANT_APPROVAL"], json=order)
        self.assertIsInstance(again, av.PendingApproval)
        self.assertNotEqual(again.approval_id, p.approval_id)

    def test_denied_from_the_cli(self):
        p = self.vault.proxy_request("POST", self.url + "/v1/x", grant_id=ENV["GRANT_APPROVAL"],
                                     json={"n": str(uuid.uuid4())})
        th, out = self.wait_in_thread(p)
        self.decide_when_listed(p.approval_id, "deny", p.approval_id, "--note", "not today")
        th.join(60)
        err = out.get("err")
        self.assertIsInstance(err, av.ApprovalDeniedError)
        self.assertEqual((err.approval_id, err.note), (p.approval_id, "not today"))

    def test_async_twin(self):
        import asyncio

        async def main():
            async with av.AsyncVault(proxy_auth=av.basic_auth(ENV["CLIENT"], ENV["CLIENT_SECRET"])) as v:
                ok = await v.request("GET", self.url + "/a", grant_id=ENV["GRANT"])
                with self.assertRaises(av.PolicyDeniedError):
                    await v.request("PUT", self.url + "/a", grant_id=ENV["GRANT"])
                return ok
        self.assertEqual(asyncio.run(main()).json()["path"], "/a")


if __name__ == "__main__":
    unittest.main()
