package proxy

import (
	"net/http"
	"testing"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/providers"
)

// One grant from `secret add --provider aws` with no parameter signs for
// any AWS endpoint, each request for the region and service of its own host,
// as the independent verifier confirms; --param region narrows the hosts;
// names the patterns do not cover are refused with nothing sent.
func TestAWSProviderWithoutParameters(t *testing.T) {
	dir := verifierDir(t)
	build := func(params map[string]string) providers.Result {
		p, err := providers.Catalog().Get("aws")
		if err != nil {
			t.Fatal(err)
		}
		r, err := p.Build(params)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	fields := inject.Fields{"access_key_id": awsKeyID, "secret_access_key": awsSecret}
	signed := []struct {
		name, url, region, service string
	}{
		{"s3 regional", "https://s3.us-east-1.amazonaws.com/bucket/key", "us-east-1", "s3"},
		{"sqs in another region", "https://sqs.eu-west-1.amazonaws.com/?Action=ListQueues", "eu-west-1", "sqs"},
		{"s3 global endpoint (boto3 in us-east-1)", "https://s3.amazonaws.com/bucket/key", "us-east-1", "s3"},
		{"s3 virtual-hosted global", "https://my-bucket.s3.amazonaws.com/key", "us-east-1", "s3"},
		{"s3 virtual-hosted dualstack", "https://my-bucket.s3.dualstack.us-west-2.amazonaws.com/key", "us-west-2", "s3"},
		{"sts global", "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15", "us-east-1", "sts"},
		{"China partition", "https://sqs.cn-north-1.amazonaws.com.cn/?Action=ListQueues", "cn-north-1", "sqs"},
	}
	// Sent in absolute form: no grant covers these hosts, so a CONNECT to
	// them is not terminated and the grant would never be seen.
	refused := []struct{ name, url string }{
		{"five labels deep", "http://a.b.c.d.e.amazonaws.com/"},
		{"the apex", "http://amazonaws.com/"},
		{"look-alike suffix", "http://sqs.eu-west-1.amazonaws.com.evil.test/"},
		{"glued suffix", "http://sqs.eu-west-1evilamazonaws.com/"},
	}
	e := newEnv(t)
	for _, c := range signed {
		e.tlsUpstream(hostOf(t, c.url), verifyingUpstream(t, dir, awsSecret, "", nil))
	}
	var upstreams []*upstream
	for _, c := range refused {
		upstreams = append(upstreams, e.tlsUpstream(hostOf(t, c.url), nil))
	}
	r := build(nil)
	e.addGrant(grantA, r.Spec, fields, r.Destinations...)
	for _, c := range signed {
		t.Run("signs: "+c.name, func(t *testing.T) {
			v := sendSigned(t, e, "GET", c.url, nil, "")
			if !v.OK || v.Region != c.region || v.Service != c.service {
				t.Fatalf("the independent verifier rejected our signature: %+v", v)
			}
		})
	}
	for i, c := range refused {
		t.Run("refuses: "+c.name, func(t *testing.T) {
			resp, body := e.do("GET", c.url, http.Header{"X-Alter-Grant": {grantA}})
			if resp.StatusCode != 403 || upstreams[i].hits.Load() != 0 {
				t.Fatalf("status %d, upstream hits %d: %s", resp.StatusCode, upstreams[i].hits.Load(), body)
			}
		})
	}
	t.Run("--param region narrows the hosts", func(t *testing.T) {
		r := build(map[string]string{"region": "eu-west-1"})
		e.addGrant(grantB, r.Spec, fields, r.Destinations...)
		if resp, body := e.do("GET", "https://s3.us-east-1.amazonaws.com/bucket/key", http.Header{"X-Alter-Grant": {grantB}}); resp.StatusCode != 403 {
			t.Fatalf("another region: status %d %s", resp.StatusCode, body)
		}
		req := "https://sqs.eu-west-1.amazonaws.com/?Action=ListQueues"
		resp, body := e.do("GET", req, http.Header{"X-Alter-Grant": {grantB}})
		if resp.StatusCode != 200 {
			t.Fatalf("its region: status %d %s", resp.StatusCode, body)
		}
	})
	e.checkLogsAndAudit()
}

func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	req, err := http.NewRequest("GET", rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req.URL.Hostname()
}
