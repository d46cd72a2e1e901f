package providers

import (
	"github.com/alter-sidecar/alter/inject"
)

// hook finishes a built template where the data alone cannot: it may
// change the spec and the destinations, before both are checked.
type hook func(params map[string]string, r *Result) error

var hooks = map[string]hook{"aws": awsHook}

// awsHook handles the two things aws needs beyond substitution.
//
// Destinations: a wildcard matches one label only, and our destination
// parser allows "*." only as the whole first label, so "*.amazonaws.com"
// would reach no regional endpoint and "*.*.amazonaws.com" cannot be
// written. The grant is therefore bound to one service in one region:
// {service}.{region}.amazonaws.com plus *.{service}.{region}.amazonaws.com
// (S3 virtual-hosted buckets, API Gateway ids). With --param endpoint (an
// S3-compatible store, a custom domain, a global endpoint such as
// iam.amazonaws.com) that host alone is allowed instead.
//
// Signing name: the host prefix is not always the name requests are signed
// with (bedrock-runtime signs as bedrock), so the service is mapped the way
// inject.InferAWS maps host names; names it does not know are kept.
func awsHook(params map[string]string, r *Result) error {
	region, service := params["region"], params["service"]
	if ep, ok := inject.InferAWS(service + "." + region + ".amazonaws.com"); ok {
		r.Spec.Service = ep.Service
	}
	if endpoint := params["endpoint"]; endpoint != "" {
		r.Destinations = []string{endpoint}
	}
	return nil
}
