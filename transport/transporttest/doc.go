// Package transporttest is the conformance suite every warren transport
// driver passes, so that the RPC layers behave the same on RabbitMQ and in
// memory.
//
// A driver's tests call Run with a Harness that opens transports on one
// bus or broker:
//
//	func TestConformance(t *testing.T) {
//		bus := memory.NewBus()
//		transporttest.Run(t, transporttest.Harness{
//			New: func(t *testing.T) transport.Transport {
//				tr := memory.New(memory.OnBus(bus))
//				t.Cleanup(func() { tr.Close() })
//				return tr
//			},
//		})
//	}
//
// Every case is a subtest with its own topic and exchange, named
// "tt-<case>-<8 hex>" and "tt-x-<case>-<8 hex>", and uses one transport per
// client and per server, as separate processes would. Cases wait on events
// with deadlines and never sleep; the suite takes a few seconds.
package transporttest
