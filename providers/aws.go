package providers

import (
	"errors"
	"strings"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
)

// hook finishes a built template where the data alone cannot: it may
// change the spec and the destinations, before both are checked.
type hook func(params map[string]string, r *Result) error

var hooks = map[string]hook{"aws": awsHook}

// awsHook chooses the aws grant's destinations from the parameters given,
// and the signing name from the service.
//
// Destinations: with no parameter, every AWS endpoint name, written out as
// patterns with one "*" per label up to four labels deep under
// amazonaws.com and amazonaws.com.cn (sqs.eu-west-1.amazonaws.com,
// bucket.s3.dualstack.us-east-1.amazonaws.com); region and service are then
// read from each request's host. --param region and --param service narrow
// the names to that region or service (us-east-1 also covers the global
// names such as s3.amazonaws.com, which sign for it); --param endpoint (an
// S3-compatible store, a custom domain) allows that host alone.
//
// Signing name: the host prefix is not always the name requests are signed
// with (bedrock-runtime signs as bedrock), so the service is mapped the way
// inject.InferAWS maps host names; names it does not know are kept.
func awsHook(params map[string]string, r *Result) error {
	region, service := params["region"], params["service"]
	r.Spec.Region, r.Spec.Service = region, service
	if service != "" {
		if ep, ok := inject.InferAWS(service + ".us-east-1.amazonaws.com"); ok {
			r.Spec.Service = ep.Service
		}
	}
	if endpoint := params["endpoint"]; endpoint != "" {
		if region == "" || service == "" {
			return errors.New("--param endpoint needs --param region and --param service too: they cannot be read from a custom host name")
		}
		r.Destinations = []string{endpoint}
		return nil
	}
	r.Destinations = awsDestinations(region, service)
	return nil
}

// awsDestinations lists the host patterns for a region and service, either
// of which may be empty (any).
func awsDestinations(region, service string) []string {
	suffixes := []string{"amazonaws.com", "amazonaws.com.cn"}
	if region != "" {
		suffixes = suffixes[:1]
		if strings.HasPrefix(region, "cn-") {
			suffixes = []string{"amazonaws.com.cn"}
		}
	}
	var out []string
	add := func(labels ...string) {
		for _, sfx := range suffixes {
			out = append(out, strings.Join(append(labels, sfx), "."))
		}
	}
	stars := strings.Repeat("*.", policy.MaxWildcardLabels)
	switch {
	case region == "" && service == "":
		for n := 1; n <= policy.MaxWildcardLabels; n++ {
			add(strings.TrimSuffix(stars[:2*n], "."))
		}
	case service == "":
		// sqs.REGION, bucket.s3.REGION, s3.dualstack.REGION,
		// bucket.s3.dualstack.REGION.
		for n := 1; n <= policy.MaxWildcardLabels-1; n++ {
			add(strings.TrimSuffix(stars[:2*n], "."), region)
		}
	default:
		regions := []string{region}
		if region == "" {
			regions[0] = "*"
		}
		for _, rg := range regions {
			add(service, rg)
			add("*", service, rg)
			add(service, "dualstack", rg)
			add("*", service, "dualstack", rg)
		}
	}
	if region == "" || region == "us-east-1" {
		// The global names (s3.amazonaws.com, iam.amazonaws.com,
		// bucket.s3.amazonaws.com) sign for us-east-1.
		switch service {
		case "":
			if region != "" {
				add("*")
				add("*", "s3")
			}
		default:
			add(service)
			add("*", service)
		}
	}
	return dedupe(out)
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
