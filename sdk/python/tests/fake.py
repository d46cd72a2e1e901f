"""A stand-in for the sidecar on 127.0.0.1: it records what it is sent and
answers as the test says, so the SDK's side of the wire can be checked
without the binary. Like the sidecar it keeps connections alive (HTTP/1.1),
and it counts them."""

import http.server
import threading


class FakeSidecar:
    def __init__(self, answer):
        # (handler) -> (status, headers dict, body bytes), or None to close
        # the connection without answering. handler.served is how many
        # requests the connection answered before this one; setting
        # handler.close_connection closes it after this answer, unannounced.
        self.answer = answer
        self.seen = []  # (method, target, headers, body) of every request
        self.accepted = 0  # connections accepted
        self.open = 0  # connections not yet closed by the server
        self.changed = threading.Condition()  # notified when accepted or open change
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Head and body go out in two writes; with Nagle the second waits
            # for the client's delayed ACK (40 ms) on a kept-alive
            # connection. Go's server, the real sidecar, sets TCP_NODELAY too.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                self.served = 0

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                fake.seen.append((self.command, self.path, self.headers, body))
                answer = fake.answer(self)
                if answer is None:
                    self.close_connection = True
                    return
                status, headers, out = answer
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
                self.served += 1

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        class Server(http.server.ThreadingHTTPServer):
            def process_request(self, request, client_address):
                with fake.changed:
                    fake.accepted += 1
                    fake.open += 1
                    fake.changed.notify_all()
                super().process_request(request, client_address)

            def handle_error(self, request, client_address):
                pass  # a client that hangs up mid-answer is what some tests do

            def shutdown_request(self, request):
                super().shutdown_request(request)  # the socket is closed when open drops
                with fake.changed:
                    fake.open -= 1
                    fake.changed.notify_all()

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def wait_open(self, n, timeout=10):
        """Waits until exactly n connections are open; False if they never are."""
        with self.changed:
            return self.changed.wait_for(lambda: self.open == n, timeout)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
