package integration_test

import (
	"context"
	"testing"
	"time"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
)

// TestInteropPythonDeclaredFirst has a Python oslo.messaging server with
// amqp_durable_queues=True declare the control exchange and the topic
// queue durable, then a warren server and client with the default preset
// join its topic: warren takes the durable exchange and queue on as they
// are, both servers answer calls by name and through the shared topic
// queue, and both get a fanout cast. The Python server meets no 406.
func TestInteropPythonDeclaredFirst(t *testing.T) {
	b := newBus(t, "pyfirst")
	b.forgetServer("py1")
	py := startPeerEnv(t, preset{"durable", []string{"amqp_durable_queues=true"}}.osloConfig(t),
		"oslo_server.py", osloURL(t), b.Exchange, b.Topic, "py1")
	py.waitReady(t)
	events := make(chan event, 4)
	startServer(t, b, "go1", []*endpoints.Endpoint{calcEndpoint("go1", nil, events, endpoints.Namespace("calc"))})
	client := newClient(t, b, rpcclient.Namespace("calc"), rpcclient.Version("1.3"))
	ctx := withTimeout(t, 60*time.Second)

	answered := make(map[string]int)
	for _, s := range []string{"py1", "go1", "", "", "", "", "", "", "", ""} {
		var who string
		if err := client.Prepare(rpcclient.Server(s)).Call(ctx, "whoami", nil, &who); err != nil || (s != "" && who != s) {
			t.Fatalf("whoami on server %q = %q, %v; want that server", s, who, err)
		}
		answered[who]++
	}
	if answered["py1"] < 2 || answered["go1"] < 2 {
		t.Errorf("calls by name and to the topic were answered %v, want both servers through the shared queue", answered)
	}
	fanoutToBoth(ctx, t, client, py, events, "fanout")
	noPreconditionFailed(t, py)
}

// fanoutToBoth fanout-casts through client and waits for the Python
// server py and the warren server go1, which reports to events, to record
// it.
func fanoutToBoth(ctx context.Context, t *testing.T, client *rpcclient.Client, py *peer, events <-chan event, value string) {
	t.Helper()
	if err := client.Prepare(rpcclient.Fanout()).Cast(ctx, "record", map[string]string{"value": value}); err != nil {
		t.Fatalf("fanout Cast: %v", err)
	}
	py.waitRecord(t, value)
	if e := waitEvents(t, events, 1); e[0].Server != "go1" || e[0].Value != value {
		t.Errorf("go1 got %+v, want the fanout cast", e[0])
	}
}
