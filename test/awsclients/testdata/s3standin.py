#!/usr/bin/python3
"""A local S3 stand-in for alter's AWS client tests.

It checks every request as S3 would, with botocore's own signer (an
implementation alter shares no code with): the Authorization header is
recomputed with botocore.auth.S3SigV4Auth from the headers it names, the
X-Amz-Content-Sha256 value is checked against the body (a hex SHA-256 must
match, UNSIGNED-PAYLOAD and the STREAMING-* values are taken byte for byte,
anything else is refused, "unsigned-payload" included), and an aws-chunked
body is decoded with every chunk signature and the trailer signature
recomputed through botocore's SigV4Auth.signature (the HMAC chain over the
secret). Trailing checksums and x-amz-checksum-* headers are checked too.

It keeps PutObject bodies and multipart uploads under --dir/objects and
writes one JSON line per request to --dir/requests.jsonl. It prints
"listening on HOST:PORT" once it accepts connections. The secret is read
from --secret-file and never printed.
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import ssl
import sys
import threading
import urllib.parse
import uuid
import zlib
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, ?"
    r"SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$"
)


class Refused(Exception):
    """A request S3 would refuse: status, S3 error code, message."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def checksum(name, data):
    """The base64 checksum S3 computes for x-amz-checksum-<name>."""
    if name == "crc32":
        return base64.b64encode((zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")).decode()
    if name in ("sha1", "sha256"):
        return base64.b64encode(hashlib.new(name, data).digest()).decode()
    raise Refused(400, "InvalidRequest", "the stand-in cannot check x-amz-checksum-" + name)


class Verifier:
    """Checks one request's signatures with botocore."""

    def __init__(self, access_key, secret):
        self.credentials = Credentials(access_key, secret)

    def header_signature(self, method, path, headers):
        """Recomputes the Authorization signature; returns the signer, the
        botocore request (for chunk signatures) and the seed signature."""
        auth = headers.get("Authorization", "")
        m = AUTH_RE.match(auth)
        if not m:
            raise Refused(403, "AccessDenied", "no SigV4 Authorization header")
        key_id, day, region, signed, provided = m.groups()
        if key_id != self.credentials.access_key:
            raise Refused(403, "InvalidAccessKeyId", "unknown access key")
        amz_date = headers.get("X-Amz-Date", "")
        if amz_date[:8] != day:
            raise Refused(403, "SignatureDoesNotMatch", "X-Amz-Date does not match the credential scope")
        names = signed.split(";")
        if "host" not in names or "x-amz-content-sha256" not in names or "x-amz-date" not in names:
            raise Refused(403, "SignatureDoesNotMatch", "host, x-amz-content-sha256 and x-amz-date must be signed")
        signed_headers = {}
        for name in names:
            values = headers.get_all(name) or []
            if not values:
                raise Refused(403, "SignatureDoesNotMatch", "signed header %s is missing" % name)
            signed_headers[name] = ",".join(values)
        request = AWSRequest(method=method, url="https://" + headers["Host"] + path, headers=signed_headers)
        request.context["timestamp"] = amz_date
        signer = S3SigV4Auth(self.credentials, "s3", region)
        if signer.signed_headers(signer.headers_to_sign(request)) != signed:
            raise Refused(403, "SignatureDoesNotMatch", "botocore would sign other headers: " + signed)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, provided):
            raise Refused(403, "SignatureDoesNotMatch", "header signature does not match")
        return signer, request, provided


class Chunks:
    """Decodes an aws-chunked body, verifying chunk signatures when signed."""

    def __init__(self, body, signer, request, seed, signed):
        self.body, self.pos = body, 0
        self.signer, self.request, self.prev, self.signed = signer, request, seed, signed
        self.chunks = 0

    def line(self):
        end = self.body.find(b"\r\n", self.pos)
        if end < 0:
            raise Refused(400, "IncompleteBody", "aws-chunked body ends inside a line")
        line = self.body[self.pos:end]
        self.pos = end + 2
        return line.decode("ascii", "strict")

    def sign(self, parts):
        return self.signer.signature("\n".join(parts), self.request)

    def scope(self):
        return self.signer.credential_scope(self.request)

    def decode(self, trailer_names):
        data = bytearray()
        while True:
            line = self.line()
            if self.signed:
                size_hex, sep, sig = line.partition(";chunk-signature=")
                if not sep or not re.fullmatch(r"[0-9a-f]{64}", sig):
                    raise Refused(400, "InvalidChunkSizeError", "chunk without a signature")
            else:
                size_hex = line
            if not re.fullmatch(r"[0-9a-fA-F]{1,8}", size_hex):
                raise Refused(400, "InvalidChunkSizeError", "bad chunk size")
            size = int(size_hex, 16)
            chunk = self.body[self.pos:self.pos + size]
            if len(chunk) != size:
                raise Refused(400, "IncompleteBody", "aws-chunked body ends inside a chunk")
            self.pos += size
            if self.signed:
                expected = self.sign(["AWS4-HMAC-SHA256-PAYLOAD", self.request.context["timestamp"], self.scope(),
                                      self.prev, EMPTY_SHA256, hashlib.sha256(chunk).hexdigest()])
                if not hmac.compare_digest(expected, sig):
                    raise Refused(403, "SignatureDoesNotMatch", "chunk %d signature does not match" % self.chunks)
                self.prev = sig
            self.chunks += 1
            data += chunk
            if size == 0:
                break
            if self.body[self.pos:self.pos + 2] != b"\r\n":
                raise Refused(400, "IncompleteBody", "chunk data without CRLF")
            self.pos += 2
        trailers = {}
        if trailer_names:
            canonical = ""
            trailer_sig = None
            while True:
                line = self.line()
                if line == "":
                    break
                name, sep, value = line.partition(":")
                if not sep:
                    raise Refused(400, "MalformedTrailerError", "bad trailer line")
                if name == "x-amz-trailer-signature":
                    trailer_sig = value
                    continue
                if trailer_sig is not None:
                    raise Refused(400, "MalformedTrailerError", "trailer after its signature")
                trailers[name] = value
                canonical += name + ":" + value + "\n"
            if sorted(trailers) != sorted(trailer_names):
                raise Refused(400, "MalformedTrailerError", "trailers %s, X-Amz-Trailer named %s" % (sorted(trailers), trailer_names))
            if self.signed:
                expected = self.sign(["AWS4-HMAC-SHA256-TRAILER", self.request.context["timestamp"], self.scope(),
                                      self.prev, hashlib.sha256(canonical.encode()).hexdigest()])
                if trailer_sig is None or not hmac.compare_digest(expected, trailer_sig):
                    raise Refused(403, "SignatureDoesNotMatch", "trailer signature does not match")
            elif trailer_sig is not None:
                raise Refused(400, "MalformedTrailerError", "a trailer signature on an unsigned payload")
        elif self.line() != "":
            raise Refused(400, "IncompleteBody", "no blank line after the final chunk")
        if self.pos != len(self.body):
            raise Refused(400, "IncompleteBody", "data after the final chunk")
        return bytes(data), trailers


class Store:
    def __init__(self, root):
        self.root = root
        self.lock = threading.Lock()
        self.uploads = {}  # upload id -> {part number: bytes}
        self.log = open(os.path.join(root, "requests.jsonl"), "a", buffering=1)

    def put(self, bucket, key, data):
        path = os.path.join(self.root, "objects", bucket, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def record(self, entry):
        with self.lock:
            self.log.write(json.dumps(entry, sort_keys=True) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3-standin"

    def log_message(self, fmt, *args):
        pass

    def do_PUT(self):
        self.handle_s3()

    do_POST = do_GET = do_DELETE = do_HEAD = do_PUT

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if len(body) != n:
            raise Refused(400, "IncompleteBody", "the body ended after %d of %d bytes" % (len(body), n))
        return body

    def target(self):
        """(bucket, key) from a virtual-hosted or path-style request."""
        host = self.headers.get("Host", "").split(":")[0]
        path = urllib.parse.urlsplit(self.path).path
        if host.startswith("s3.") or host == "s3.amazonaws.com":
            bucket, _, key = path.lstrip("/").partition("/")
        else:
            bucket, key = host.split(".")[0], path.lstrip("/")
        return bucket, urllib.parse.unquote(key)

    def payload(self, body, signer, request, seed):
        """Checks X-Amz-Content-Sha256 against the body and returns the
        object data and a description of how it was carried."""
        value = self.headers.get("X-Amz-Content-Sha256", "")
        info = {"payload": value}
        if re.fullmatch(r"[0-9a-f]{64}", value):
            if hashlib.sha256(body).hexdigest() != value:
                raise Refused(400, "XAmzContentSHA256Mismatch", "the body does not match X-Amz-Content-Sha256")
            data = body
        elif value == UNSIGNED:
            data = body
        elif value in (STREAMING_UNSIGNED_TRAILER, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER):
            if "aws-chunked" not in self.headers.get("Content-Encoding", ""):
                raise Refused(400, "InvalidArgument", "aws-chunked payload without Content-Encoding: aws-chunked")
            names = [n.strip() for n in self.headers.get("X-Amz-Trailer", "").split(",") if n.strip()]
            if bool(names) != (value != STREAMING_SIGNED):
                raise Refused(400, "InvalidArgument", "X-Amz-Trailer %r does not fit %s" % (names, value))
            chunks = Chunks(body, signer, request, seed, value != STREAMING_UNSIGNED_TRAILER)
            data, trailers = chunks.decode(names)
            declared = self.headers.get("X-Amz-Decoded-Content-Length")
            if declared is None or int(declared) != len(data):
                raise Refused(400, "IncompleteBody", "X-Amz-Decoded-Content-Length %s for %d bytes" % (declared, len(data)))
            for name, got in trailers.items():
                if name.startswith("x-amz-checksum-") and checksum(name[len("x-amz-checksum-"):], data) != got:
                    raise Refused(400, "BadDigest", "trailing %s does not match" % name)
            info.update(chunks=chunks.chunks, signed_chunks=chunks.chunks if chunks.signed else 0, trailers=sorted(trailers))
        else:
            raise Refused(400, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                          "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) or a SHA-256")
        for name, got in self.headers.items():
            lname = name.lower()
            if lname.startswith("x-amz-checksum-") and lname not in ("x-amz-checksum-algorithm", "x-amz-checksum-type"):
                if checksum(lname[len("x-amz-checksum-"):], data) != got:
                    raise Refused(400, "BadDigest", "%s does not match" % name)
        md5 = self.headers.get("Content-MD5")
        if md5 and base64.b64encode(hashlib.md5(data).digest()).decode() != md5:
            raise Refused(400, "BadDigest", "Content-MD5 does not match")
        info["decoded_length"] = len(data)
        return data, info

    def handle_s3(self):
        store = self.server.store
        entry = {"method": self.command, "host": self.headers.get("Host"), "path": self.path,
                 "payload": self.headers.get("X-Amz-Content-Sha256", "")}
        try:
            body = self.read_body()
            signer, request, seed = self.server.verifier.header_signature(self.command, self.path, self.headers)
            entry["header_signature"] = "ok"
            data, info = self.payload(body, signer, request, seed)
            entry.update(info)
            status, headers, reply = self.operation(data)
        except Refused as r:
            entry.update(refused=r.code, reason=r.message)
            status, headers = r.status, {"Content-Type": "application/xml"}
            reply = ("<Error><Code>%s</Code><Message>%s</Message></Error>" % (r.code, escape(r.message))).encode()
            self.close_connection = True
        entry["status"] = status
        store.record(entry)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply)

    def operation(self, data):
        store = self.server.store
        bucket, key = self.target()
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)
        etag = '"%s"' % hashlib.md5(data).hexdigest()
        xml = {"Content-Type": "application/xml"}
        if self.command == "POST" and "uploads" in query:
            upload = uuid.uuid4().hex
            with store.lock:
                store.uploads[upload] = {}
            return 200, xml, ("<InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId>"
                              "</InitiateMultipartUploadResult>" % (escape(bucket), escape(key), upload)).encode()
        upload = query.get("uploadId", [None])[0]
        if upload is not None:
            with store.lock:
                parts = store.uploads.get(upload)
            if parts is None:
                raise Refused(404, "NoSuchUpload", "unknown upload")
            if self.command == "PUT":
                parts[int(query["partNumber"][0])] = data
                return 200, {"ETag": etag}, b""
            if self.command == "POST":
                numbers = [int(n) for n in re.findall(rb"<PartNumber>(\d+)</PartNumber>", data)]
                if not numbers or numbers != sorted(numbers) or any(n not in parts for n in numbers):
                    raise Refused(400, "InvalidPart", "parts %s, uploaded %s" % (numbers, sorted(parts)))
                whole = b"".join(parts[n] for n in numbers)
                store.put(bucket, key, whole)
                with store.lock:
                    del store.uploads[upload]
                return 200, xml, ("<CompleteMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><ETag>&quot;%s-%d&quot;</ETag>"
                                  "</CompleteMultipartUploadResult>" % (escape(bucket), escape(key),
                                                                         hashlib.md5(whole).hexdigest(), len(numbers))).encode()
            if self.command == "DELETE":
                with store.lock:
                    store.uploads.pop(upload, None)
                return 204, {}, b""
        if self.command == "PUT":
            store.put(bucket, key, data)
            return 200, {"ETag": etag}, b""
        raise Refused(501, "NotImplemented", "the stand-in does not do %s %s" % (self.command, self.path))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self):
        sock, addr = super().get_request()
        # The TLS handshake happens in the request's own thread.
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-file", required=True)
    a = p.parse_args()
    with open(a.secret_file) as f:
        secret = f.read().strip()
    srv = Server(("127.0.0.1", 0), Handler)
    srv.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.tls.load_cert_chain(a.cert, a.key)
    srv.verifier = Verifier(a.access_key, secret)
    srv.store = Store(a.dir)
    host, port = srv.server_address
    print("listening on %s:%d" % (host, port), flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
