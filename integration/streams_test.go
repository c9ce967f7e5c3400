package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/rpcclient"
)

// osloNewSource returns the directory named by WARREN_TEST_OSLO_SOURCE,
// whose oslo_messaging package the Python peers of
// TestOsloNewPresetsInterop import in place of Debian 12's, with Debian
// 12's kombu, amqp and oslo libraries: ./scripts/test fills it with Debian
// 13's python3-oslo.messaging 16.1 (an oslo.messaging source tree works
// too; 18.1 was checked). It must have rabbit_stream_fanout and
// use_queue_manager (oslo.messaging 14.7 or later), which Debian 12's
// 14.0.3 lacks. The test skips when the variable is unset (go test run
// without ./scripts/test); TestStreamFanoutMatchesOslo and the other broker
// tests of transport/rabbit check warren's side against oslo's source.
func osloNewSource(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("WARREN_TEST_OSLO_SOURCE")
	if dir == "" {
		t.Skip("WARREN_TEST_OSLO_SOURCE is not set: Debian 12's oslo.messaging 14.0.3 has neither rabbit_stream_fanout nor use_queue_manager; " +
			"./scripts/test sets it and fills it with Debian 13's oslo.messaging 16.1")
	}
	impl := filepath.Join(dir, "oslo_messaging", "_drivers", "impl_rabbit.py")
	src, err := os.ReadFile(impl)
	if err != nil {
		t.Fatalf("WARREN_TEST_OSLO_SOURCE=%s holds no oslo_messaging package (./scripts/ensure-deps fills it): %v", dir, err)
	}
	for _, opt := range []string{"rabbit_stream_fanout", "use_queue_manager"} {
		if !bytes.Contains(src, []byte(opt)) {
			t.Fatalf("%s has no option %s: WARREN_TEST_OSLO_SOURCE must hold oslo.messaging 14.7 or later", impl, opt)
		}
	}
	return dir
}

// osloNewPresets are the options of oslo.messaging 14.7 and later that
// Debian's 14.0.3 lacks, as transport URL query options.
var osloNewPresets = []preset{
	{"stream", []string{"rabbit_stream_fanout=true", "rabbit_transient_quorum_queue=true", "rabbit_qos_prefetch_count=10"}},
	{"queue-manager", []string{"use_queue_manager=true"}},
	{"modern-stream-queue-manager", []string{"rabbit_quorum_queue=true", "rabbit_transient_quorum_queue=true",
		"rabbit_stream_fanout=true", "rabbit_qos_prefetch_count=10", "use_queue_manager=true"}},
}

// osloNewEnv writes query, with the queue manager's names and a lock
// directory for its counter, as an oslo.config file and returns the
// environment that gives it, and the oslo.messaging of src, to a Python
// peer.
func osloNewEnv(t *testing.T, src string, query []string) []string {
	t.Helper()
	lines := strings.ReplaceAll(strings.Join(query, "\n"), "=", " = ")
	conf := "[oslo_messaging_rabbit]\n" + lines + "\n[oslo_concurrency]\nlock_path = " + t.TempDir() + "\n"
	path := filepath.Join(t.TempDir(), "oslo.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	return []string{"WARREN_TEST_OSLO_CONFIG=" + path, "PYTHONPATH=" + src}
}

// TestOsloNewPresetsInterop runs Python oslo.messaging 16.1 peers and warren
// with rabbit_stream_fanout and use_queue_manager on one topic, each side
// declaring first in turn: a warren client calls, casts and fanout-casts
// to a Python and a warren server, and so does a Python client; no side
// may meet a 406. Under use_queue_manager every peer names its queues
// <host>:<process>:<n>, with a host of the test's own.
func TestOsloNewPresetsInterop(t *testing.T) {
	src := osloNewSource(t)
	for i, p := range osloNewPresets {
		t.Run(p.name, func(t *testing.T) {
			b := newBus(t, "o18-"+p.name)
			host := unique(t, "host")
			t.Cleanup(func() {
				// oslo's queue manager keeps its counter in /dev/shm.
				shm, _ := filepath.Glob("/dev/shm/" + host + "_*_qmanager")
				for _, f := range shm {
					if err := os.Remove(f); err != nil {
						t.Errorf("removing %s: %v", f, err)
					}
				}
			})
			// Streams and the queue manager's queues stay after their
			// consumers.
			b.forgetQueue(topology.StreamFanoutQueue(b.Topic))
			for _, proc := range []string{"go", "pysrv", "pycall"} {
				for n := 1; n <= 2; n++ {
					id := topology.ManagedID(host, proc, n)
					b.forgetQueue(topology.ManagedFanoutQueue(b.Topic, id))
					b.forgetQueue(topology.ManagedReplyQueue(id))
				}
			}
			named := func(proc string) []string {
				return append(slices.Clone(p.query), "hostname="+host, "processname="+proc)
			}
			goPreset := preset{p.name, named("go")}
			b.forgetServer("py1")
			b.forgetServer("go1")
			events := make(chan event, 8)
			startGo := func() {
				serve(t, goPreset.dial(t), b.target("go1"), []*endpoints.Endpoint{calcEndpoint("go1", nil, events, endpoints.Namespace("calc"))})
			}
			if i%2 == 1 {
				startGo()
			}
			py := startPeerEnv(t, osloNewEnv(t, src, named("pysrv")), "oslo_server.py", osloURL(t), b.Exchange, b.Topic, "py1")
			py.waitReady(t)
			if i%2 == 0 {
				startGo()
			}
			ctx := withTimeout(t, 60*time.Second)

			client := rpcclient.New(goPreset.dial(t), b.target(""), rpcclient.Namespace("calc"), rpcclient.Version("1.3"))
			for _, s := range []string{"py1", "go1"} {
				var who string
				if err := client.Prepare(rpcclient.Server(s)).Call(ctx, "whoami", nil, &who); err != nil || who != s {
					t.Fatalf("warren: whoami on %s = %q, %v; want %s, nil", s, who, err, s)
				}
			}
			castToPyAndFanout(ctx, t, client, py, events, "go")

			c := startCallerEnv(t, b, osloNewEnv(t, src, named("pycall")))
			for _, s := range []string{"go1", "py1"} {
				r := c.do(t, map[string]any{"op": "call", "method": "whoami", "server": s, "namespace": "calc", "version": "1.3"})
				var who string
				if !r.OK || json.Unmarshal(r.Result, &who) != nil || who != s {
					t.Errorf("Python: whoami on %s = %+v, want %s", s, r, s)
				}
			}
			for _, req := range []map[string]any{
				{"op": "cast", "method": "record", "args": map[string]string{"value": "py-cast"}, "server": "go1", "namespace": "calc", "version": "1.3"},
				{"op": "cast", "method": "record", "args": map[string]string{"value": "py-fanout"}, "fanout": true, "namespace": "calc", "version": "1.3"},
			} {
				if r := c.do(t, req); !r.OK {
					t.Fatalf("Python: %v = %+v", req, r)
				}
				if e := waitEvents(t, events, 1); e[0].Value != req["args"].(map[string]string)["value"] {
					t.Errorf("go1 got %+v, want the Python cast %v", e[0], req)
				}
			}
			py.waitRecord(t, "py-fanout")
			noPreconditionFailed(t, py)
			noPreconditionFailed(t, c.p)

			// Both sides named their queues alike.
			query := strings.Join(p.query, "&")
			stream, managed := strings.Contains(query, "rabbit_stream_fanout=true"), strings.Contains(query, "use_queue_manager=true")
			var want []string
			if managed {
				want = append(want, topology.ManagedReplyQueue(topology.ManagedID(host, "go", 1)),
					topology.ManagedReplyQueue(topology.ManagedID(host, "pycall", 1)))
			}
			switch {
			case stream:
				want = append(want, topology.StreamFanoutQueue(b.Topic))
			case managed:
				want = append(want, topology.ManagedFanoutQueue(b.Topic, topology.ManagedID(host, "go", 1)),
					topology.ManagedFanoutQueue(b.Topic, topology.ManagedID(host, "pysrv", 1)))
			}
			conn, err := amqp.Dial(brokerURL())
			if err != nil {
				t.Fatalf("amqp.Dial: %v", err)
			}
			defer conn.Close()
			for _, q := range want {
				ch, err := conn.Channel()
				if err != nil {
					t.Fatalf("Channel: %v", err)
				}
				if _, err := ch.QueueDeclarePassive(q, false, false, false, false, nil); err != nil {
					t.Errorf("queue %s: %v, want it declared", q, err)
				} else {
					_ = ch.Close()
				}
			}
		})
	}
}

// castToPyAndFanout casts "record" with value <prefix>-cast to server py1,
// which py must report, then with <prefix>-fanout to every server of the
// topic, which py and warren server go1 (reporting to events) must get.
func castToPyAndFanout(ctx context.Context, t *testing.T, client *rpcclient.Client, py *peer, events <-chan event, prefix string) {
	t.Helper()
	if err := client.Prepare(rpcclient.Server("py1")).Cast(ctx, "record", map[string]string{"value": prefix + "-cast"}); err != nil {
		t.Fatalf("Cast to py1: %v", err)
	}
	py.waitRecord(t, prefix+"-cast")
	fanoutToBoth(ctx, t, client, py, events, prefix+"-fanout")
}
