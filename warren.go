package warren

import (
	"context"
	"fmt"

	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
	"github.com/warrenrpc/warren/transport/rabbit"
)

// Dial opens the transport cfg names: the in-process memory driver when
// cfg.URL is empty or has the memory scheme, the RabbitMQ driver for rabbit,
// amqp and amqps URLs. cfg.ControlExchange, when set, is the exchange for
// targets that name none.
func Dial(ctx context.Context, cfg transport.Config) (transport.Transport, error) {
	exchange := cfg.ControlExchange
	if exchange == "" {
		exchange = transport.DefaultControlExchange
	}
	if cfg.URL == "" {
		return memory.New(memory.ControlExchange(exchange)), nil
	}
	u, err := transport.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("warren: %w", err)
	}
	if u.Scheme == "memory" {
		return memory.New(memory.ControlExchange(exchange)), nil
	}
	tr, err := rabbit.Dial(ctx, cfg.URL, rabbit.ControlExchange(exchange))
	if err != nil {
		return nil, fmt.Errorf("warren: %w", err)
	}
	return tr, nil
}
