package integration_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/transport/rabbit"
)

// preset is one set of oslo.messaging queue options, as a transport URL
// query (what warren reads) and as [oslo_messaging_rabbit] lines (what the
// Python peers read).
type preset struct {
	name  string
	query []string // key=value
}

var presets = []preset{
	{"durable", []string{"amqp_durable_queues=true"}},
	{"durable-auto-delete", []string{"amqp_durable_queues=true", "amqp_auto_delete=true"}},
	{"quorum", []string{"rabbit_quorum_queue=true", "rabbit_quorum_delivery_limit=5", "rabbit_quorum_max_memory_length=100"}},
	// Requests and replies compressed both ways.
	{"gzip", []string{"kombu_compression=gzip"}},
}

// osloConfig writes p as an oslo.config file and returns the environment
// that gives it to a Python peer.
func (p preset) osloConfig(t *testing.T) []string {
	t.Helper()
	lines := strings.ReplaceAll(strings.Join(p.query, "\n"), "=", " = ")
	// oslo.messaging 14 spells the quorum memory limits so.
	lines = strings.ReplaceAll(lines, "rabbit_quorum_max_memory", "rabbit_quroum_max_memory")
	conf := "[oslo_messaging_rabbit]\n" + lines + "\n"
	path := filepath.Join(t.TempDir(), "oslo.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	return []string{"WARREN_TEST_OSLO_CONFIG=" + path}
}

// dial returns a transport dialed with p in its URL query, as a Go service
// handed the transport_url of a nova.conf would be.
func (p preset) dial(t *testing.T) *rabbit.Transport {
	t.Helper()
	raw := brokerURL()
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
	}
	raw += sep + strings.Join(p.query, "&")
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	tr, err := rabbit.Dial(ctx, raw)
	if err != nil {
		t.Fatalf("rabbit.Dial(%s): %v", raw, err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("Transport.Close: %v", err)
		}
	})
	return tr
}

// noPreconditionFailed fails the test when py met a 406, which
// oslo.messaging logs and retries: some declaration differed.
func noPreconditionFailed(t *testing.T, py *peer) {
	t.Helper()
	if log := py.stderr.String(); strings.Contains(log, "PRECONDITION_FAILED") {
		t.Errorf("%s hit PRECONDITION_FAILED:\n%s", py.script, log)
	}
}

// TestPresetsInterop runs Python oslo.messaging peers and warren with
// the same queue options on one topic, for each preset: a Python server
// declares first and a warren server joins it, a warren client calls,
// casts and fanout-casts to both; then a Python client calls and casts to
// a warren server that declared first. No side may meet a 406.
func TestPresetsInterop(t *testing.T) {
	for _, p := range presets {
		t.Run(p.name, func(t *testing.T) {
			env := p.osloConfig(t)
			t.Run("python declares first", func(t *testing.T) {
				b := newBus(t, "pre-"+p.name)
				b.forgetServer("py1")
				py := startPeerEnv(t, env, "oslo_server.py", osloURL(t), b.Exchange, b.Topic, "py1")
				py.waitReady(t)
				events := make(chan event, 4)
				b.forgetServer("go1")
				serve(t, p.dial(t), b.target("go1"), []*endpoints.Endpoint{calcEndpoint("go1", nil, events, endpoints.Namespace("calc"))})
				client := rpcclient.New(p.dial(t), b.target(""), rpcclient.Namespace("calc"), rpcclient.Version("1.3"))
				ctx := withTimeout(t, 60*time.Second)

				for _, s := range []string{"py1", "go1"} {
					var who string
					if err := client.Prepare(rpcclient.Server(s)).Call(ctx, "whoami", nil, &who); err != nil || who != s {
						t.Fatalf("whoami on %s = %q, %v; want %s, nil", s, who, err, s)
					}
				}
				answered := make(map[string]bool)
				for i := 0; i < 20 && len(answered) < 2; i++ {
					var who string
					if err := client.Call(ctx, "whoami", nil, &who); err != nil {
						t.Fatalf("call %d to the topic: %v", i, err)
					}
					answered[who] = true
				}
				if !answered["py1"] || !answered["go1"] {
					t.Errorf("20 calls to the topic were answered by %v, want py1 and go1", answered)
				}
				if err := client.Prepare(rpcclient.Server("py1")).Cast(ctx, "record", map[string]string{"value": "to-py"}); err != nil {
					t.Fatalf("Cast to py1: %v", err)
				}
				py.waitRecord(t, "to-py")
				fanoutToBoth(ctx, t, client, py, events)
				noPreconditionFailed(t, py)
			})
			t.Run("warren declares first", func(t *testing.T) {
				b := newBus(t, "prw-"+p.name)
				b.forgetServer("go1")
				serve(t, p.dial(t), b.target("go1"), []*endpoints.Endpoint{calcEndpoint("go1", nil, nil, endpoints.Namespace("calc"))})
				py := startPeerEnv(t, env, "oslo_client.py", osloURL(t), b.Exchange, b.Topic, "go1")
				py.waitLine(t, "DONE", peerLifetime, func(l string) bool { return l == "DONE" })
				cases := pyCases(t, py)
				if q, ok := cases["reply_q"]; ok {
					b.forgetQueue(strings.Trim(string(q.Result), `"`))
				}
				for _, name := range []string{"add_int", "echo_str", "direct", "cast"} {
					if c, ok := cases[name]; !ok || !c.OK {
						t.Errorf("Python case %s = %+v (reported %v), want success", name, c, ok)
					}
				}
				noPreconditionFailed(t, py)
			})
		})
	}
}

// pyCases returns the cases oslo_client.py reported, by name.
func pyCases(t *testing.T, py *peer) map[string]pyCase {
	t.Helper()
	cases := make(map[string]pyCase)
	for _, l := range py.snapshot() {
		var c pyCase
		if strings.HasPrefix(l, "{") && json.Unmarshal([]byte(l), &c) == nil {
			cases[c.Case] = c
		}
	}
	return cases
}

// TestDuplicateCastToPython casts one request twice with the same
// _unique_id to a Python oslo.messaging server, then another: Python runs
// the first once, as warren's listeners do (transporttest's duplicate
// case), so a Go publisher that sends again is as safe on either side.
func TestDuplicateCastToPython(t *testing.T) {
	b := newBus(t, "dup")
	b.forgetServer("py1")
	py := startPeer(t, "oslo_server.py", osloURL(t), b.Exchange, b.Topic, "py1")
	py.waitReady(t)
	tr := dial(t)
	ctx := withTimeout(t, 30*time.Second)
	cast := func(value, id string) {
		t.Helper()
		req := &message.Request{Method: "record", Namespace: "calc", Version: "1.3",
			Args: json.RawMessage(`{"value": "` + value + `"}`), UniqueID: id}
		if err := tr.Cast(ctx, b.target("py1"), req); err != nil {
			t.Fatalf("Cast(%s) = %v", value, err)
		}
	}
	id := wire.NewID()
	cast("dup", id)
	cast("dup", id)
	cast("after", "")
	py.waitRecord(t, "dup")
	py.waitRecord(t, "after")
	n := 0
	for _, l := range py.snapshot() {
		if strings.Contains(l, `"value": "dup"`) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("oslo_server.py ran the duplicated cast %d times, want once", n)
	}
}
