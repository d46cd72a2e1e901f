#!/bin/sh
# Call an API through the alter proxy with curl: proxy settings, the CA and
# one header; the credential never appears on this side.
#
#   HTTPS_PROXY (or HTTP_PROXY)  the proxy, default http://127.0.0.1:8080
#   ALTER_CA_FILE                the file `alter ca export` wrote, default $ALTER_HOME/ca.pem
#   ALTER_GRANT                  the grant id `alter secret add` printed
#   TARGET_URL                   what to call
set -eu
: "${ALTER_GRANT:?set ALTER_GRANT to the grant id}"
: "${TARGET_URL:?set TARGET_URL to the URL to call}"
# Named explicitly because curl reads only the lower-case http_proxy.
proxy=${HTTPS_PROXY:-${HTTP_PROXY:-http://127.0.0.1:8080}}
ca=${ALTER_CA_FILE:-${ALTER_HOME:-$HOME/.alter}/ca.pem}
# --fail-with-body: a refusal (JSON with an "error" code, also in the
# X-Alter-Error header) is printed and the exit status is 22.
exec curl --silent --show-error --fail-with-body \
	--proxy "$proxy" --cacert "$ca" \
	--header "X-Alter-Grant: $ALTER_GRANT" \
	--header "X-Alter-Reason: examples/curl" \
	"$TARGET_URL"
