// s3upload.mjs uploads one file with the AWS JavaScript SDK v3 as an
// application would, through the proxy in HTTPS_PROXY (the SDK does not read
// it, so an https-proxy-agent carries it), trusting the CA in
// NODE_EXTRA_CA_CERTS, with whatever (dummy) keys AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY hold. The body is a file stream, for which the SDK's
// default is an aws-chunked body with a trailing CRC32 checksum
// (X-Amz-Content-Sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER).
//
//   node s3upload.mjs FILE BUCKET KEY      (ALTER_GRANT names the grant)
import { createReadStream, statSync } from "node:fs";
import { S3Client, PutObjectCommand } from "@aws-sdk/client-s3";
import { HttpsProxyAgent } from "https-proxy-agent";

const [file, bucket, key] = process.argv.slice(2);
const client = new S3Client({
  region: "us-east-1",
  requestHandler: { httpsAgent: new HttpsProxyAgent(process.env.HTTPS_PROXY) },
});
// The grant marker, added before signing: the proxy removes it and signs
// the request itself.
client.middlewareStack.add(
  (next) => (args) => {
    args.request.headers["x-alter-grant"] = process.env.ALTER_GRANT;
    return next(args);
  },
  { step: "build", name: "alterGrant" },
);
const out = await client.send(new PutObjectCommand({
  Bucket: bucket, Key: key, Body: createReadStream(file), ContentLength: statSync(file).size,
}));
console.log(JSON.stringify({ etag: out.ETag, status: out.$metadata.httpStatusCode }));
