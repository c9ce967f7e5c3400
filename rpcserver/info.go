package rpcserver

import (
	"os"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
)

// InfoMethod is the method a server given the Introspection option
// answers with its ServerInfo. It is public, since oslo.messaging treats
// names starting with "_" as private and refuses them, and named like
// oslo's own built-in oslo_rpc_server_ping, with a warren prefix, so that
// it does not clash with a service's methods.
const InfoMethod = "warren_rpc_server_info"

// Introspection makes the server answer InfoMethod, in the default
// namespace and at any version, with its ServerInfo, before its
// dispatcher's endpoints are looked at; the interceptors see the request
// as any other. It is off by default: a server without it serves exactly
// its endpoints, as a Python server does.
func Introspection() Option {
	return func(o *options) { o.introspect = true }
}

// ServerInfo is what a server tells about itself in answer to InfoMethod.
type ServerInfo struct {
	// Topic, Server and Exchange are the server's target.
	Topic    string `json:"topic"`
	Server   string `json:"server"`
	Exchange string `json:"exchange,omitempty"`
	// Host is the host name the operating system reports.
	Host string `json:"host"`
	// PID is the server's process id.
	PID int `json:"pid"`
	// Started is when the server was made.
	Started time.Time `json:"started"`
	// Workers, Busy, Requests, Failed and Expired are the server's Stats.
	Workers  int    `json:"workers"`
	Busy     int    `json:"busy"`
	Requests uint64 `json:"requests"`
	Failed   uint64 `json:"failed"`
	Expired  uint64 `json:"expired"`
	// Endpoints lists the namespaces, versions and methods the server
	// serves, InfoMethod's own endpoint last.
	Endpoints []dispatcher.EndpointInfo `json:"endpoints"`
}

// isInfo reports whether req asks for the server's ServerInfo.
func (s *Server) isInfo(req *dispatcher.Request) bool {
	return s.opt.introspect && req.Method == InfoMethod && req.Namespace == "" && !req.EmptyNamespace
}

// info describes the server.
func (s *Server) info() ServerInfo {
	st := s.Stats()
	host, _ := os.Hostname() // empty when the system cannot tell
	return ServerInfo{
		Topic: s.tgt.Topic, Server: s.tgt.Server, Exchange: s.tgt.Exchange,
		Host: host, PID: os.Getpid(), Started: st.Started,
		Workers: st.Workers, Busy: st.Busy, Requests: st.Requests, Failed: st.Failed, Expired: st.Expired,
		Endpoints: append(s.d.Endpoints(), dispatcher.EndpointInfo{
			Version: "1.0",
			Methods: []dispatcher.MethodInfo{{Name: InfoMethod, Args: []string{}}},
		}),
	}
}
