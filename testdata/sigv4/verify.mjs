// verify.mjs checks an AWS SigV4 Authorization header with the AWS
// JavaScript SDK's signer (@smithy/signature-v4), an implementation alter
// does not share code with. It reads one JSON request description on stdin:
//   {method, host, path (as on the wire), query (raw), headers {name: [values]},
//    body_b64, access_key_id, secret_access_key, session_token}
// re-signs exactly the headers the Authorization header lists, with the same
// X-Amz-Date, and prints {"ok": bool, "provided": sig, "expected": sig, ...}.
import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "@aws-crypto/sha256-js";
import { HttpRequest } from "@smithy/protocol-http";

const input = JSON.parse(await new Promise((resolve) => {
  let data = "";
  process.stdin.on("data", (c) => (data += c));
  process.stdin.on("end", () => resolve(data));
}));

const lower = {};
for (const [k, vs] of Object.entries(input.headers)) lower[k.toLowerCase()] = vs.join(",");
const auth = lower["authorization"] || "";
const m = auth.match(/^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/);
if (!m) {
  console.log(JSON.stringify({ ok: false, error: "malformed Authorization header" }));
  process.exit(0);
}
const [, accessKey, , region, service, signedList, provided] = m;
const signed = signedList.split(";");

const headers = {};
for (const name of signed) {
  if (name === "host") headers.host = input.host;
  else if (name in lower) headers[name] = lower[name];
}
const query = {};
for (const [k, v] of new URLSearchParams(input.query || "")) {
  if (k in query) query[k] = [].concat(query[k], v);
  else query[k] = v;
}
const amzDate = lower["x-amz-date"];
const signingDate = new Date(
  `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
);
const signer = new SignatureV4({
  credentials: { accessKeyId: input.access_key_id, secretAccessKey: input.secret_access_key, sessionToken: input.session_token || undefined },
  region, service, sha256: Sha256,
  uriEscapePath: service !== "s3",
  applyChecksum: false,
});
const request = new HttpRequest({
  method: input.method, protocol: "https:", hostname: input.host, path: input.path, query, headers,
  body: input.body_b64 ? Buffer.from(input.body_b64, "base64") : undefined,
});
const out = await signer.sign(request, { signingDate, signableHeaders: new Set(signed) });
const expected = (out.headers["authorization"] || "").match(/Signature=([0-9a-f]{64})/)?.[1];
const expectedSigned = (out.headers["authorization"] || "").match(/SignedHeaders=([^,]+)/)?.[1];
console.log(JSON.stringify({
  ok: expected === provided && expectedSigned === signedList && accessKey === input.access_key_id,
  provided, expected, signed_headers: signedList, expected_signed_headers: expectedSigned, region, service,
}));
