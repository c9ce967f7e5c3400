package benchsuite

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/rabbit"
)

// InFlight is the client memory that n calls in flight at once hold.
type InFlight struct {
	Calls int
	// Bytes is the growth of the Go runtime's memory in use (heap and
	// goroutine stacks) once every call was published and waits.
	Bytes uint64
	// Goroutines is the growth of the number of goroutines.
	Goroutines int
}

// MeasureInFlight makes n calls at once to a topic whose queue a raw
// consumer drains without replying, waits until the broker delivered
// them all, measures the client's memory, then ends the calls.
func MeasureInFlight(ctx context.Context, url string, n int) (InFlight, error) {
	topic := "warren-benchsuite-inflight-" + wire.NewID()[:8]
	conn, err := amqp.Dial(url)
	if err != nil {
		return InFlight{}, fmt.Errorf("benchsuite: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return InFlight{}, fmt.Errorf("benchsuite: %w", err)
	}
	if err := ch.ExchangeDeclare("openstack", "topic", false, false, false, false, nil); err != nil {
		return InFlight{}, fmt.Errorf("benchsuite: %w", err)
	}
	if _, err := ch.QueueDeclare(topic, false, true, false, false, nil); err != nil {
		return InFlight{}, fmt.Errorf("benchsuite: %w", err)
	}
	if err := ch.QueueBind(topic, topic, "openstack", false, nil); err != nil {
		return InFlight{}, fmt.Errorf("benchsuite: %w", err)
	}
	msgs, err := ch.Consume(topic, "", true, false, false, false, nil)
	if err != nil {
		return InFlight{}, fmt.Errorf("benchsuite: %w", err)
	}
	tr, err := rabbit.Dial(ctx, url)
	if err != nil {
		return InFlight{}, fmt.Errorf("benchsuite: %w", err)
	}
	defer tr.Close()
	cl := rpcclient.New(tr, target.Target{Topic: topic})
	if err := warmUp(ctx, cl, msgs); err != nil {
		return InFlight{}, err
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	calls, stop := context.WithTimeout(ctx, 2*time.Minute)
	defer stop()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { _ = cl.Call(calls, echoMethod, echoArgs{Data: "x"}, nil) })
	}
	timeout := time.After(time.Minute)
	for got := 0; got < n; got++ {
		select {
		case <-msgs:
		case <-timeout:
			stop()
			wg.Wait()
			return InFlight{}, fmt.Errorf("benchsuite: %d of %d calls reached the broker in a minute", got, n)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	res := InFlight{Calls: n, Goroutines: runtime.NumGoroutine() - g0}
	inUse := func(m *runtime.MemStats) uint64 { return m.HeapInuse + m.StackInuse }
	if inUse(&after) > inUse(&before) {
		res.Bytes = inUse(&after) - inUse(&before)
	}
	stop()
	wg.Wait()
	if ctx.Err() != nil {
		return InFlight{}, errors.Join(errors.New("benchsuite: in-flight memory"), ctx.Err())
	}
	return res, nil
}

// warmUp makes a first call, which sets up the reply queue and the
// publishing channels, and ends it once msgs, the queue's consumer, got
// it; it fails when the call does not reach the queue in a minute.
func warmUp(ctx context.Context, cl *rpcclient.Client, msgs <-chan amqp.Delivery) error {
	warm, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	called := make(chan error, 1)
	go func() { called <- cl.Call(warm, echoMethod, echoArgs{}, nil) }()
	select {
	case <-msgs:
		cancel()
		<-called
		return nil
	case err := <-called: // the call failed before it was delivered
		return fmt.Errorf("benchsuite: the first call did not reach the queue: %w", err)
	}
}
