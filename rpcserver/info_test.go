package rpcserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
)

func TestIntrospection(t *testing.T) {
	st, ct := pair(t)
	e := endpoints.New(endpoints.Namespace("calc"), endpoints.Version("1.3"))
	endpoints.Register(e, "add", func(_ context.Context, a addArgs) (int, error) { return a.A + a.B, nil })
	e.Handle("raw", endpoints.HandlerFunc(func(context.Context, json.RawMessage) (any, error) { return nil, nil }))
	endpoints.Register(e, "fail", func(context.Context, struct{}) (int, error) { return 0, errors.New("no") })
	before := time.Now()
	srv := start(t, st, srvTarget, []*endpoints.Endpoint{e}, rpcserver.Introspection(), rpcserver.Workers(3))

	c := rpcclient.New(ct, target.Target{Topic: "calc", Namespace: "calc", Version: "1.3"})
	if _, err := rpcclient.Call[int](t.Context(), c, "add", addArgs{A: 1, B: 2}); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(t.Context(), "fail", nil, nil); err == nil {
		t.Fatal("fail() succeeded")
	}
	info, err := rpcclient.Call[rpcserver.ServerInfo](t.Context(), rpcclient.New(ct, target.Target{Topic: "calc"}), rpcserver.InfoMethod, nil)
	if err != nil {
		t.Fatalf("%s: %v", rpcserver.InfoMethod, err)
	}
	host, _ := os.Hostname()
	if info.Topic != "calc" || info.Server != "host-1" || info.Host != host || info.PID != os.Getpid() {
		t.Errorf("info = %+v, want topic calc, server host-1, host %s, pid %d", info, host, os.Getpid())
	}
	if info.Started.Before(before.Add(-time.Second)) || info.Started.After(time.Now()) {
		t.Errorf("info.Started = %v, want after %v", info.Started, before)
	}
	// The info request itself is running (the worker of fail() may not
	// have been released yet): 3 requests taken, one or two busy.
	if info.Workers != 3 || info.Busy < 1 || info.Busy > 2 || info.Requests != 3 || info.Failed != 1 {
		t.Errorf("info stats: workers %d, busy %d, requests %d, failed %d; want 3, 1 or 2, 3, 1",
			info.Workers, info.Busy, info.Requests, info.Failed)
	}
	want := []dispatcher.EndpointInfo{
		{Namespace: "calc", Version: "1.3", Methods: []dispatcher.MethodInfo{
			{Name: "add", Args: []string{"a", "b"}}, {Name: "fail", Args: []string{}}, {Name: "raw"}}},
		{Version: "1.0", Methods: []dispatcher.MethodInfo{{Name: endpoints.PingMethod}}},
		{Version: "1.0", Methods: []dispatcher.MethodInfo{{Name: rpcserver.InfoMethod, Args: []string{}}}},
	}
	if !slices.EqualFunc(info.Endpoints, want, equalEndpoint) {
		t.Errorf("info.Endpoints = %+v, want %+v", info.Endpoints, want)
	}
	if st := srv.Stats(); st.Requests != 3 || st.Failed != 1 || st.Workers != 3 {
		t.Errorf("Stats() = %+v, want 3 workers, 3 requests, 1 failed", st)
	}
}

func equalEndpoint(a, b dispatcher.EndpointInfo) bool {
	return a.Namespace == b.Namespace && a.Version == b.Version &&
		slices.EqualFunc(a.Methods, b.Methods, func(x, y dispatcher.MethodInfo) bool {
			return x.Name == y.Name && slices.Equal(x.Args, y.Args) && (x.Args == nil) == (y.Args == nil)
		})
}

func TestIntrospectionOffByDefault(t *testing.T) {
	st, ct := pair(t)
	e := endpoints.New()
	endpoints.Register(e, "add", func(_ context.Context, a addArgs) (int, error) { return a.A + a.B, nil })
	start(t, st, srvTarget, []*endpoints.Endpoint{e})
	err := rpcclient.New(ct, target.Target{Topic: "calc"}).Call(t.Context(), rpcserver.InfoMethod, nil, nil)
	if !errors.Is(err, rpcerr.ErrNoSuchMethod) {
		t.Errorf("%s without Introspection = %v, want NoSuchMethod", rpcserver.InfoMethod, err)
	}
}
