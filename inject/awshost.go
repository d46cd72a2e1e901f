package inject

import "strings"

// AWSEndpoint is the region and service a host name stands for.
type AWSEndpoint struct {
	Region  string
	Service string
}

// globalServices are AWS services with one global endpoint, signed in
// us-east-1.
var globalServices = map[string]bool{
	"iam": true, "sts": true, "route53": true, "cloudfront": true, "organizations": true,
	"s3": true, "waf": true, "shield": true, "globalaccelerator": true, "support": true,
}

// InferAWS reads the region and service from an AWS host name:
//
//	sqs.eu-west-1.amazonaws.com            sqs, eu-west-1
//	bedrock-runtime.us-west-2.amazonaws.com bedrock-runtime, us-west-2
//	s3.us-east-1.amazonaws.com             s3, us-east-1
//	bucket.s3.us-east-1.amazonaws.com      s3, us-east-1 (virtual-hosted bucket)
//	bucket.s3-eu-west-1.amazonaws.com      s3, eu-west-1 (legacy dash form)
//	s3.dualstack.us-east-1.amazonaws.com   s3, us-east-1
//	iam.amazonaws.com, bucket.s3.amazonaws.com   global: us-east-1
//	abc123.execute-api.us-east-1.amazonaws.com   execute-api, us-east-1
//	sqs.cn-north-1.amazonaws.com.cn        China partition
//
// Hosts that are not AWS endpoints (S3-compatible stores, custom domains)
// are not inferred: their region and service are stored with the secret.
func InferAWS(host string) (AWSEndpoint, bool) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	var rest string
	for _, suffix := range []string{".amazonaws.com.cn", ".amazonaws.com"} {
		if strings.HasSuffix(host, suffix) {
			rest = strings.TrimSuffix(host, suffix)
			break
		}
	}
	if rest == "" {
		return AWSEndpoint{}, false
	}
	labels := strings.Split(rest, ".")
	// Drop the dualstack/fips qualifiers, which name the endpoint flavour.
	var kept []string
	for _, l := range labels {
		if l != "dualstack" && l != "fips" {
			kept = append(kept, l)
		}
	}
	labels = kept
	n := len(labels)
	switch {
	case n == 0:
		return AWSEndpoint{}, false
	case n == 1:
		// service.amazonaws.com, or s3-REGION.amazonaws.com (legacy)
		if r, ok := strings.CutPrefix(labels[0], "s3-"); ok && isRegion(r) {
			return AWSEndpoint{Region: r, Service: "s3"}, true
		}
		if globalServices[labels[0]] {
			return AWSEndpoint{Region: "us-east-1", Service: labels[0]}, true
		}
		return AWSEndpoint{}, false
	}
	last, prev := labels[n-1], labels[n-2]
	switch {
	case isRegion(last):
		return AWSEndpoint{Region: last, Service: serviceName(prev)}, true
	case last == "s3":
		// bucket.s3.amazonaws.com
		return AWSEndpoint{Region: "us-east-1", Service: "s3"}, true
	}
	if r, ok := strings.CutPrefix(last, "s3-"); ok && isRegion(r) {
		return AWSEndpoint{Region: r, Service: "s3"}, true
	}
	return AWSEndpoint{}, false
}

// serviceName maps endpoint prefixes to signing names where they differ.
func serviceName(endpoint string) string {
	switch endpoint {
	case "s3-control", "s3-accesspoint":
		return "s3"
	case "bedrock-runtime", "bedrock-agent-runtime":
		return "bedrock"
	}
	return endpoint
}

// isRegion recognises region names such as us-east-1, eu-central-2,
// us-gov-west-1 and cn-north-1.
func isRegion(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 3 {
		return false
	}
	digit := parts[len(parts)-1]
	if len(digit) == 0 || len(digit) > 2 {
		return false
	}
	for _, c := range digit {
		if c < '0' || c > '9' {
			return false
		}
	}
	for _, p := range parts[:len(parts)-1] {
		if p == "" || !awsName(p) {
			return false
		}
	}
	return len(parts[0]) == 2 && parts[0][0] >= 'a' && parts[0][0] <= 'z' && parts[0][1] >= 'a' && parts[0][1] <= 'z'
}
