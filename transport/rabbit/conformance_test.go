package rabbit

import (
	"testing"

	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/transporttest"
)

// conformanceLimit is the largest message of the conformance suite's
// transports: small, so that the too-large case is quick.
const conformanceLimit = 64 << 10

func TestConformance(t *testing.T) {
	transporttest.Run(t, transporttest.Harness{
		New:            func(t *testing.T) transport.Transport { return dial(t, MaxMessageSize(conformanceLimit)) },
		Forget:         func(t *testing.T, tgt target.Target) { forget(t, tgt) },
		MaxMessageSize: conformanceLimit,
		AtLeastOnce: func(t *testing.T) transport.Transport {
			return dial(t, MaxMessageSize(conformanceLimit), AtLeastOnce(),
				QueuePreset(Queues{Quorum: true, QuorumDeliveryLimit: 3}))
		},
		DeliveryLimit: 3,
	})
}
