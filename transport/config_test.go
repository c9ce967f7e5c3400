package transport

import (
	"maps"
	"testing"
)

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "rabbit://h/")
	t.Setenv("WARREN_CONTROL_EXCHANGE", "nova")
	c, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.URL != "rabbit://h/" || c.ControlExchange != "nova" {
		t.Errorf("ConfigFromEnv() = %+v", c)
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "")
	t.Setenv("WARREN_CONTROL_EXCHANGE", "")
	c, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.URL != "" || c.ControlExchange != DefaultControlExchange {
		t.Errorf("ConfigFromEnv() = %+v, want empty URL and %q", c, DefaultControlExchange)
	}
}

func TestConfigOptionsFromEnv(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_OPTIONS", "amqp_durable_queues:true,rabbit_quorum_delivery_limit:5")
	c, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"amqp_durable_queues": "true", "rabbit_quorum_delivery_limit": "5"}
	if !maps.Equal(c.Options, want) {
		t.Errorf("ConfigFromEnv().Options = %v, want %v", c.Options, want)
	}
}
