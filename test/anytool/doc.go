// Package anytool runs unmodified tools through the built alter binary with
// `alter run` (issue 17, "any tool, no code change"): Debian's gh and AWS
// CLI, Python requests and httpx, curl (the grant in -x and in HTTPS_PROXY)
// and Go's net/http, each with a grant id or a profile token as the proxy
// password and placeholder credentials of its own. upstream.resolve points
// api.github.com, sqs.us-east-1.amazonaws.com and a third host at local TLS
// stand-ins: the GitHub one checks the injected token, the SQS one has the
// signature checked by the AWS JavaScript SDK's signer
// (testdata/sigv4/verify.mjs), an implementation alter shares no code with,
// and the third counts every byte it receives, so a profile that fences it
// off is seen to send nothing.
//
// Every test checks that neither the stored secrets nor the profile token
// appear in anything the tools, alter run or the proxy printed, in the
// audit file, or in what the upstreams received besides the injected
// credential. A missing tool skips its test with a message, except in CI
// (CI set), where it fails. The package holds only tests; this file exists
// for its doc.
package anytool
