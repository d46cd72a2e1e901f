"""Connections to the sidecar are kept alive and reused, and a sidecar that
closes them costs the application nothing it would not have paid anyway."""

import json
import os
import time
import threading
import unittest

from alter_vault import AsyncVault, ProxyError, SidecarTimeoutError, SidecarUnreachableError, Vault

from .fake import FakeSidecar

GRANT = "6f1c2a7e-3b4d-4c5e-8f90-123456789abc"
API = "https://api.example.test"


def ok(h):
    return 200, {}, b"ok"


def fork_request(v):
    """Forks; the child makes one request through v and exits 0 if it got
    the answer. Returns the child's pid."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if v.request("GET", API + "/child", grant_id=GRANT, timeout=10).text == "ok" else 1
        finally:
            os._exit(code)
    return pid


class PoolTest(unittest.TestCase):
    def sidecar(self, answer, **vault_args):
        f = FakeSidecar(answer)
        self.addCleanup(f.close)
        v = Vault(f.url, **vault_args)
        self.addCleanup(v.close)
        return f, v

    def test_sequential_requests_share_one_connection(self):
        f, v = self.sidecar(ok)
        for i in range(50):
            self.assertEqual(v.request("GET", API + "/%d" % i, grant_id=GRANT).text, "ok")
        self.assertEqual((f.accepted, len(f.seen), v._pool.idle, v._pool.checked_out), (1, 50, 1, 0))

    def test_sidecar_that_closes(self):
        def announced(h):
            return 200, {"Connection": "close"}, b"ok"

        def silent(h):
            h.close_connection = True  # closes after answering, without saying so
            return ok(h)

        for name, answer, method, wait_for_close in [
            ("says Connection: close", announced, "POST", False),
            ("closes after each answer", silent, "GET", False),
            # The connection is closed before the next request starts, so
            # only the readability check keeps the POST (not replayable)
            # off the dead connection.
            ("closed while idle", silent, "POST", True),
        ]:
            with self.subTest(name):
                f, v = self.sidecar(answer)
                for i in range(10):
                    self.assertEqual(v.request(method, API + "/%d" % i, grant_id=GRANT, json=i).text, "ok")
                    if wait_for_close:
                        self.assertTrue(f.wait_open(0))
                self.assertEqual(f.accepted, 10)
                self.assertEqual([s[1] for s in f.seen], [API + "/%d" % i for i in range(10)])  # each sent once
                self.assertEqual(v._pool.checked_out, 0)

    def test_stale_connection_is_retried_only_when_replayable(self):
        """The sidecar reads the next request on a kept connection and hangs
        up without answering, past the readability check: only a request
        that may be sent twice is sent again, on a new connection."""
        def first_only(h):
            return ok(h) if h.served == 0 else None

        for name, method, headers, replayed in [
            ("GET", "GET", {}, True),
            ("POST", "POST", {}, False),
            ("PUT", "PUT", {}, False),
            ("POST with Idempotency-Key", "POST", {"Idempotency-Key": "k-1"}, True),
            ("DELETE with X-Idempotency-Key", "DELETE", {"x-idempotency-key": "k-2"}, True),
        ]:
            with self.subTest(name):
                f, v = self.sidecar(first_only)
                v.request("GET", API + "/first", grant_id=GRANT)
                call = lambda: v.request(method, API + "/next", grant_id=GRANT, headers=headers, data=b"x")  # noqa: E731
                if replayed:
                    self.assertEqual(call().text, "ok")
                else:
                    with self.assertRaises(SidecarUnreachableError):
                        call()
                sent = [s[1] for s in f.seen].count(API + "/next")
                self.assertEqual((sent, f.accepted), (2, 2) if replayed else (1, 1))
                self.assertEqual(v._pool.checked_out, 0)

    def test_new_connection_is_not_retried(self):
        f, v = self.sidecar(lambda h: None)
        with self.assertRaises(SidecarUnreachableError):
            v.request("GET", API, grant_id=GRANT)
        self.assertEqual((len(f.seen), f.accepted), (1, 1))

    def test_concurrent_requests(self):
        f, v = self.sidecar(ok)
        threads, start, failures = 16, threading.Barrier(16), []

        def run(n):
            start.wait()
            for i in range(20):
                try:
                    if v.request("GET", API + "/%d/%d" % (n, i), grant_id=GRANT).text != "ok":
                        failures.append((n, i))
                except Exception as e:  # handed to the test thread
                    failures.append((n, i, e))
        ts = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(failures, [])
        self.assertEqual(len(f.seen), threads * 20)
        self.assertLessEqual(f.accepted, threads + 4)
        self.assertEqual(v._pool.checked_out, 0)
        self.assertLessEqual(v._pool.idle, 8)
        v.close()
        self.assertTrue(f.wait_open(0))

    def test_unfinished_answer_is_not_kept(self):
        big = json.dumps({"error": "policy_denied", "message": "x" * (65 << 10)}).encode()
        f, v = self.sidecar(lambda h: (403, {"X-Alter-Error": "policy_denied"}, big))
        for _ in range(2):
            with self.assertRaises(ProxyError):  # the SDK reads at most 64 KiB of a refusal
                v.request("GET", API, grant_id=GRANT)
            self.assertEqual(v._pool.idle, 0)
        self.assertEqual(f.accepted, 2)

    def test_refusal_read_to_the_end_keeps_the_connection(self):
        f, v = self.sidecar(lambda h: (403, {"X-Alter-Error": "policy_denied"}, b'{"error":"policy_denied"}'))
        for _ in range(3):
            with self.assertRaises(ProxyError):
                v.request("GET", API, grant_id=GRANT)
        self.assertEqual((f.accepted, v._pool.idle), (1, 1))

    def test_timed_out_connection_is_closed(self):
        """The timeout of each request applies to a reused connection too,
        and the connection it ended is never reused."""
        release = threading.Event()
        self.addCleanup(release.set)

        def second_hangs(h):
            if h.served == 1:
                release.wait(10)
            return ok(h)
        f, v = self.sidecar(second_hangs)
        v.request("GET", API, grant_id=GRANT)  # no timeout
        with self.assertRaises(SidecarTimeoutError):
            v.request("GET", API, grant_id=GRANT, timeout=0.2)
        self.assertEqual((v._pool.idle, v._pool.checked_out), (0, 0))
        release.set()
        self.assertEqual(v.request("GET", API, grant_id=GRANT).text, "ok")
        self.assertEqual(f.accepted, 2)

    @unittest.skipUnless(hasattr(os, "fork"), "needs os.fork")
    def test_forked_child_does_not_share_connections(self):
        f, v = self.sidecar(ok)
        v.request("GET", API, grant_id=GRANT)
        pid = fork_request(v)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        self.assertEqual(f.accepted, 2)  # the child's request came on a connection of its own
        self.assertEqual(v.request("GET", API, grant_id=GRANT).text, "ok")  # and the parent's still works
        self.assertEqual(f.accepted, 2)

    @unittest.skipUnless(hasattr(os, "fork"), "needs os.fork")
    def test_fork_while_another_thread_holds_the_lock(self):
        # The fork copies the pool's lock as held (by a thread the child
        # does not have): the child must not wait on it forever.
        f, v = self.sidecar(ok)
        v.request("GET", API, grant_id=GRANT)
        v._pool._lock.acquire()
        try:
            pid = fork_request(v)
        finally:
            v._pool._lock.release()
        deadline = time.monotonic() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                self.fail("the forked child waited on a lock it cannot get")
            time.sleep(0.05)  # polling another process's exit
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)

    def test_with_closes_idle_connections(self):
        f = FakeSidecar(ok)
        self.addCleanup(f.close)
        with Vault(f.url) as v:
            v.request("GET", API, grant_id=GRANT)
            self.assertEqual(f.open, 1)
        self.assertTrue(f.wait_open(0))
        # still usable, but keeps nothing open
        self.assertEqual(v.request("GET", API, grant_id=GRANT).text, "ok")
        self.assertEqual(v._pool.idle, 0)


class AsyncPoolTest(unittest.IsolatedAsyncioTestCase):
    async def test_async_with_closes_the_pool(self):
        f = FakeSidecar(ok)
        self.addCleanup(f.close)
        async with AsyncVault(f.url) as v:
            for _ in range(3):
                await v.request("GET", API, grant_id=GRANT)
            self.assertEqual((f.accepted, v._sync._pool.idle), (1, 1))
        self.assertEqual(v._sync._pool.idle, 0)
        self.assertTrue(f.wait_open(0))


if __name__ == "__main__":
    unittest.main()
