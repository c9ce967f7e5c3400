package rabbit

import (
	"testing"

	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.Run(t, transporttest.Harness{
		New:    func(t *testing.T) transport.Transport { return dial(t) },
		Forget: func(t *testing.T, tgt target.Target) { forget(t, tgt) },
	})
}
