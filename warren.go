package warren

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
	"github.com/warrenrpc/warren/transport/rabbit"
)

// Option changes how Dial opens a transport. Options follow the package's
// convention: a zero argument (nil logger, no driver options) keeps the
// default.
type Option func(*dialOptions)

type dialOptions struct {
	log    *slog.Logger
	rabbit []rabbit.Option
	memory []memory.Option
}

// Logger sets where Dial and the driver it opens log; the RabbitMQ driver
// gets it as rabbit.Logger. Nil, the default, logs nothing.
func Logger(l *slog.Logger) Option {
	return func(o *dialOptions) { o.log = l }
}

// Rabbit passes opts to rabbit.Dial when the URL names a broker (rabbit,
// amqp or amqps), after the options Dial derives from the Config, so they
// win over it. They are ignored for memory://. Repeated options add to the
// list.
func Rabbit(opts ...rabbit.Option) Option {
	return func(o *dialOptions) { o.rabbit = append(o.rabbit, opts...) }
}

// Memory passes opts to memory.New when the URL is memory://, after the
// options Dial derives from the Config, so they win over it. They are
// ignored for a broker URL. Repeated options add to the list.
func Memory(opts ...memory.Option) Option {
	return func(o *dialOptions) { o.memory = append(o.memory, opts...) }
}

// Dial opens the transport cfg names: the in-process memory driver for a
// memory:// URL, the RabbitMQ driver for rabbit, amqp and amqps URLs.
// cfg.ControlExchange, when set, is the exchange for targets that name
// none; cfg.Options are added to the URL's query options (the RabbitMQ
// driver's queue presets, for instance), which win over them. A Config without URL is an error matching transport.ErrInvalidURL:
// a program that forgot WARREN_TRANSPORT_URL must not run alone on a bus of
// its own, so the memory driver is chosen only by saying memory://.
func Dial(ctx context.Context, cfg transport.Config, opts ...Option) (transport.Transport, error) {
	var o dialOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if cfg.URL == "" {
		return nil, fmt.Errorf("warren: %w: none given: set WARREN_TRANSPORT_URL "+
			"(for example rabbit://guest:guest@localhost:5672/), or memory:// for the in-process driver",
			transport.ErrInvalidURL)
	}
	u, err := transport.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("warren: %w", err)
	}
	if u.Scheme == "memory" {
		mopts := append([]memory.Option{memory.ControlExchange(cfg.ControlExchange)}, o.memory...)
		tr := memory.New(mopts...)
		o.log.Info("warren: opened the in-process memory driver", "url", cfg.URL)
		return tr, nil
	}
	ropts := append([]rabbit.Option{rabbit.ControlExchange(cfg.ControlExchange), rabbit.Logger(o.log), rabbit.QueryOptions(cfg.Options)}, o.rabbit...)
	tr, err := rabbit.Dial(ctx, cfg.URL, ropts...)
	if err != nil {
		return nil, fmt.Errorf("warren: %w", err)
	}
	o.log.Info("warren: opened the RabbitMQ driver", "url", u.String())
	return tr, nil
}
