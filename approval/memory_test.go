package approval_test

import (
	"testing"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/approval/approvaltest"
)

func TestMemoryStore(t *testing.T) {
	approvaltest.Run(t, func(*testing.T) approval.Store { return approval.NewMemory() })
}
