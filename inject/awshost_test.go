package inject

import "testing"

func TestInferAWS(t *testing.T) {
	tests := []struct {
		host, region, service string
		ok                    bool
	}{
		{"sqs.eu-west-1.amazonaws.com", "eu-west-1", "sqs", true},
		{"s3.us-east-1.amazonaws.com", "us-east-1", "s3", true},
		{"my-bucket.s3.us-west-2.amazonaws.com", "us-west-2", "s3", true},
		{"my.dotted.bucket.s3.us-west-2.amazonaws.com", "us-west-2", "s3", true},
		{"my-bucket.s3-eu-west-1.amazonaws.com", "eu-west-1", "s3", true},
		{"s3-eu-west-1.amazonaws.com", "eu-west-1", "s3", true},
		{"s3.dualstack.us-east-1.amazonaws.com", "us-east-1", "s3", true},
		{"bucket.s3.amazonaws.com", "us-east-1", "s3", true},
		{"s3.amazonaws.com", "us-east-1", "s3", true},
		{"iam.amazonaws.com", "us-east-1", "iam", true},
		{"sts.amazonaws.com", "us-east-1", "sts", true},
		{"bedrock-runtime.us-west-2.amazonaws.com", "us-west-2", "bedrock", true},
		{"abc123.execute-api.us-east-1.amazonaws.com", "us-east-1", "execute-api", true},
		{"dynamodb.us-gov-west-1.amazonaws.com", "us-gov-west-1", "dynamodb", true},
		{"sqs.cn-north-1.amazonaws.com.cn", "cn-north-1", "sqs", true},
		{"SQS.EU-WEST-1.AMAZONAWS.COM.", "eu-west-1", "sqs", true},
		{"storage.example.com", "", "", false},
		{"amazonaws.com", "", "", false},
		{"evil-amazonaws.com", "", "", false},
		{"unknownglobal.amazonaws.com", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, ok := InferAWS(tt.host)
			if ok != tt.ok || got.Region != tt.region || got.Service != tt.service {
				t.Fatalf("InferAWS(%s) = %+v %v, want %s %s %v", tt.host, got, ok, tt.region, tt.service, tt.ok)
			}
		})
	}
}
