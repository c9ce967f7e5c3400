package transport

import (
	"fmt"

	"github.com/kelseyhightower/envconfig"
)

// DefaultControlExchange is the exchange targets use when they name none, as
// in oslo.messaging.
const DefaultControlExchange = "openstack"

// Config is what programs read from the environment to reach a transport.
// It has no usable zero value: a program must name its transport, and
// warren.Dial refuses a Config without URL rather than run alone.
type Config struct {
	// URL is the transport URL, from WARREN_TRANSPORT_URL: a broker
	// (rabbit://, amqp://, amqps://) or memory:// for the in-process
	// driver. Zero is an error from warren.Dial.
	URL string `envconfig:"TRANSPORT_URL"`
	// ControlExchange is the exchange for targets that name none, from
	// WARREN_CONTROL_EXCHANGE. Zero means "openstack".
	ControlExchange string `envconfig:"CONTROL_EXCHANGE"`
	// Options are transport URL query options by name, from
	// WARREN_TRANSPORT_OPTIONS as comma-separated name:value pairs
	// (amqp_durable_queues:true,rabbit_quorum_queue:true), for settings
	// kept out of the URL. The URL's query wins over them; the RabbitMQ
	// driver rejects names it does not know, the memory driver ignores
	// them all. Nil adds none.
	Options map[string]string `envconfig:"TRANSPORT_OPTIONS"`
}

// ConfigFromEnv reads a Config from the WARREN_* environment variables.
func ConfigFromEnv() (Config, error) {
	var c Config
	if err := envconfig.Process("warren", &c); err != nil {
		return Config{}, fmt.Errorf("transport: reading WARREN_* environment: %w", err)
	}
	if c.ControlExchange == "" {
		c.ControlExchange = DefaultControlExchange
	}
	return c, nil
}
