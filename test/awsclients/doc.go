// Package awsclients runs real AWS clients against the built alter binary:
// the AWS CLI (Debian's awscli, `aws s3 cp`, multipart), boto3
// (put_object) and the AWS JavaScript SDK v3 (a streamed PutObject) upload
// 30 MiB each through `alter proxy` with dummy keys, and a Go client sends
// chunk-signed uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, with and without
// a trailer) as other SDKs do. upstream.resolve points the S3 host names at
// a local TLS stand-in (testdata/s3standin.py) that checks every header,
// chunk and trailer signature with botocore's own signer against the stored
// key, and refuses what S3 refuses.
//
// A missing tool skips its test with a message, except in CI (CI set),
// where it fails. The package holds only tests; this file exists for its
// doc.
package awsclients
