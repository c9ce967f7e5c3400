// Command tracing shows a trace crossing two services: a client calls the
// greeter service, whose handler calls the dictionary service, and every
// span is printed on stdout as JSON by OpenTelemetry's stdout exporter.
// The four spans (call greeter, process greeter, call dictionary, process
// dictionary) share one trace id, each the parent of the next.
//
//	go run ./examples/tracing                  # the memory driver, in one process
//	WARREN_TRANSPORT_URL=rabbit://guest:guest@localhost:5672/ go run ./examples/tracing
//
// With a broker, each role can run as a process of its own:
//
//	go run ./examples/tracing -role dictionary &
//	go run ./examples/tracing -role greeter &
//	go run ./examples/tracing -role client
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/warrenrpc/warren"
	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/otelwarren"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

func main() {
	role := flag.String("role", "all", "what to run: all (in one process), dictionary, greeter or client")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *role, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// WordArgs are the arguments of both services' methods.
type WordArgs struct {
	Word string `json:"word"`
}

// run runs role, printing spans to w.
func run(ctx context.Context, role string, w io.Writer) error {
	cfg, err := transport.ConfigFromEnv()
	if err != nil {
		return err
	}
	if cfg.URL == "" {
		cfg.URL = "memory://"
	}
	exporter, err := stdouttrace.New(stdouttrace.WithWriter(w), stdouttrace.WithPrettyPrint())
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer tp.Shutdown(context.Background())
	tracing := otelwarren.TracerProvider(tp)

	// Each service has a transport of its own, as a process of its own
	// would have.
	dial := func() (transport.Transport, error) { return warren.Dial(ctx, cfg) }
	switch role {
	case "dictionary", "greeter":
		return runService(ctx, dial, role, tracing)
	case "client":
		return runClient(ctx, dial, tracing)
	case "all":
		if cfg.URL == "memory://" {
			// The in-process driver connects transports made by one
			// memory.New only: the services share one.
			tr, err := dial()
			if err != nil {
				return err
			}
			defer tr.Close()
			dial = func() (transport.Transport, error) { return sharedTransport{tr}, nil }
		}
		return runAll(ctx, dial, tracing)
	}
	return fmt.Errorf("unknown role %q: want all, dictionary, greeter or client", role)
}

// sharedTransport lets the services of the "all" role share the memory
// transport: closing it is left to run.
type sharedTransport struct{ transport.Transport }

func (sharedTransport) Close() error { return nil }

// dictionary is the second service: it looks words up.
func dictionary() *endpoints.Endpoint {
	ep := endpoints.New()
	endpoints.Register(ep, "define", func(_ context.Context, a WordArgs) (string, error) {
		return a.Word + ": a word of welcome", nil
	})
	return ep
}

// greeter is the first service: it greets, with the dictionary's help.
func greeter(dict *rpcclient.Client) *endpoints.Endpoint {
	ep := endpoints.New()
	endpoints.Register(ep, "greet", func(ctx context.Context, a WordArgs) (string, error) {
		// The handler's ctx holds its span: the call below is its child.
		def, err := rpcclient.Call[string](ctx, dict, "define", a)
		if err != nil {
			return "", err
		}
		return a.Word + "! (" + def + ")", nil
	})
	return ep
}

// serve starts serving ep as topic and returns once it listens, and a
// function that stops it.
func serve(ctx context.Context, tr transport.Transport, topic string, ep *endpoints.Endpoint, tracing otelwarren.Option) (stop func(), err error) {
	d, err := dispatcher.New([]*endpoints.Endpoint{ep})
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	srv := rpcserver.New(tr, target.Target{Topic: topic, Server: host}, d,
		rpcserver.Interceptors(otelwarren.ServerInterceptor(tracing), rpcserver.Recover()))
	if err := srv.Listen(ctx); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ctx)
	}()
	return func() {
		srv.Close()
		<-done
	}, nil
}

// runService serves one service until ctx ends: the dictionary, or the
// greeter with a traced client of the dictionary on the same transport.
func runService(ctx context.Context, dial func() (transport.Transport, error), topic string, tracing otelwarren.Option) error {
	tr, err := dial()
	if err != nil {
		return err
	}
	defer tr.Close()
	ep := dictionary()
	if topic == "greeter" {
		ep = greeter(rpcclient.New(tr, target.Target{Topic: "dictionary"}, rpcclient.Interceptors(otelwarren.ClientInterceptor(tracing))))
	}
	stop, err := serve(ctx, tr, topic, ep, tracing)
	if err != nil {
		return err
	}
	defer stop()
	<-ctx.Done()
	return nil
}

func runClient(ctx context.Context, dial func() (transport.Transport, error), tracing otelwarren.Option) error {
	tr, err := dial()
	if err != nil {
		return err
	}
	defer tr.Close()
	c := rpcclient.New(tr, target.Target{Topic: "greeter"}, rpcclient.Interceptors(otelwarren.ClientInterceptor(tracing)))
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	greeting, err := rpcclient.Call[string](ctx, c, "greet", WordArgs{Word: "hello"})
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, greeting)
	return nil
}

// runAll runs the two services and the client in one process.
func runAll(ctx context.Context, dial func() (transport.Transport, error), tracing otelwarren.Option) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dictTr, err := dial()
	if err != nil {
		return err
	}
	defer dictTr.Close()
	stopDict, err := serve(ctx, dictTr, "dictionary", dictionary(), tracing)
	if err != nil {
		return err
	}
	defer stopDict()
	greetTr, err := dial()
	if err != nil {
		return err
	}
	defer greetTr.Close()
	dict := rpcclient.New(greetTr, target.Target{Topic: "dictionary"}, rpcclient.Interceptors(otelwarren.ClientInterceptor(tracing)))
	stopGreet, err := serve(ctx, greetTr, "greeter", greeter(dict), tracing)
	if err != nil {
		return err
	}
	defer stopGreet()
	err = runClient(ctx, dial, tracing)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
