package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenrpc/warren/internal/certtest"
	"github.com/warrenrpc/warren/internal/rabbitnode"
)

// The private TLS node's ports: its AMQP port is reserved in
// [tlsNodeFirstPort, tlsNodeLastPort] with rabbitnode.Reserve, so that two
// test processes never share one; its TLS port is tlsNodeTLSOffset above
// it and its distribution port tlsNodeDistOffset above it.
const (
	tlsNodeFirstPort  = 5720
	tlsNodeLastPort   = 5729
	tlsNodeTLSOffset  = 10
	tlsNodeDistOffset = 20000
)

// tlsNode is a RabbitMQ node of one test's own, with a TLS listener that
// requires a client certificate signed by the test's CA
// (fail_if_no_peer_cert), started from the installed rabbitmq-server so
// that breaking it never touches the shared broker.
type tlsNode struct {
	name    string // the node's name, which holds its AMQP port
	tlsPort int    // the port of its TLS listener
	base    string // the node's directory: config, certificates, data, logs
}

// startTLSNode starts the node with the server certificate server,
// signed by ca, and returns once it accepts connections. It is stopped
// and its directory removed when the test ends.
//
// The node runs as the rabbitmq user, as the shared broker does: the test
// must run as root (rabbitmq-server switches user), and every file the
// node reads belongs to rabbitmq. It gets its own configuration file,
// since /etc/rabbitmq/rabbitmq.conf pins the shared broker's port.
func startTLSNode(t *testing.T, ca *certtest.CA, server certtest.Pair) *tlsNode {
	t.Helper()
	res, tlsPort := reserveTLSPorts(t)
	t.Cleanup(res.Release) // registered first, so it runs after the node stopped
	name := fmt.Sprintf("warren-tls-%d@localhost", res.Port)
	rmq, err := user.Lookup("rabbitmq")
	if err != nil {
		t.Fatalf("the rabbitmq user is missing (./scripts/ensure-deps installs RabbitMQ): %v", err)
	}
	uid, _ := strconv.Atoi(rmq.Uid)
	gid, _ := strconv.Atoi(rmq.Gid)

	base, err := os.MkdirTemp("", "warren-tls-node-")
	if err != nil {
		t.Fatal(err)
	}
	n := &tlsNode{name: name, tlsPort: tlsPort, base: base}
	for _, dir := range []string{"log", "mnesia"} {
		if err := os.Mkdir(filepath.Join(base, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	caFile := certtest.Write(t, base, "ca.pem", ca.PEM)
	certFile := certtest.Write(t, base, "server.pem", server.CertPEM)
	keyFile := certtest.Write(t, base, "server.key", server.KeyPEM)
	conf := fmt.Sprintf(`listeners.tcp.local = 127.0.0.1:%d
listeners.ssl.local = 127.0.0.1:%d
ssl_options.cacertfile = %s
ssl_options.certfile = %s
ssl_options.keyfile = %s
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = true
`, res.Port, tlsPort, caFile, certFile, keyFile)
	certtest.Write(t, base, "rabbitmq.conf", []byte(conf))
	certtest.Write(t, base, "enabled_plugins", []byte("[].\n"))
	err = filepath.Walk(base, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(path, uid, gid)
	})
	if err != nil {
		t.Fatalf("giving the node's directory to rabbitmq (the test must run as root): %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := exec.CommandContext(ctx, "rabbitmq-server", "-detached")
	start.Env = append(os.Environ(),
		"RABBITMQ_NODENAME="+name,
		"RABBITMQ_NODE_PORT="+strconv.Itoa(res.Port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(res.DistPort),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(base, "rabbitmq"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(base, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(base, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(base, "pid"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(base, "enabled_plugins"),
	)
	if out, err := start.CombinedOutput(); err != nil {
		os.RemoveAll(base)
		t.Fatalf("rabbitmq-server -detached: %v\n%s", err, out)
	}
	t.Cleanup(func() { n.stop(t) })
	// wait watches for the pid file, which the node writes once it runs,
	// then for the node to boot; await_startup would give up at once on
	// a node not running yet.
	began := time.Now()
	if out, err := n.ctl(ctx, "wait", filepath.Join(base, "pid"), "--timeout", "80"); err != nil {
		t.Fatalf("the TLS node did not start: %v\n%s\n%s", err, out, n.log())
	}
	t.Logf("TLS node %s started in %v", name, time.Since(began).Round(time.Millisecond))
	return n
}

// reserveTLSPorts reserves the node's AMQP and distribution ports and
// returns them with a free TLS port. Another process's node may hold the
// TLS port of a free AMQP port only if it does not use this scheme: that
// port is then skipped.
func reserveTLSPorts(t *testing.T) (*rabbitnode.Reservation, int) {
	t.Helper()
	var skipped []*rabbitnode.Reservation
	defer func() {
		for _, r := range skipped {
			r.Release()
		}
	}()
	for {
		res, err := rabbitnode.Reserve(tlsNodeFirstPort, tlsNodeLastPort, tlsNodeDistOffset)
		if err != nil {
			t.Fatalf("reserving the TLS node's ports: %v", err)
		}
		tlsPort := res.Port + tlsNodeTLSOffset
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort)))
		if err == nil {
			l.Close()
			return res, tlsPort
		}
		skipped = append(skipped, res) // held until a good one is found
	}
}

// ctl runs rabbitmqctl on the node.
func (n *tlsNode) ctl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "rabbitmqctl", append([]string{"-n", n.name}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// stop stops the node, waiting until its process is gone, and removes
// its directory.
func (n *tlsNode) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	began := time.Now()
	defer func() { t.Logf("TLS node %s stopped in %v", n.name, time.Since(began).Round(time.Millisecond)) }()
	if out, err := n.ctl(ctx, "stop", filepath.Join(n.base, "pid")); err != nil {
		t.Errorf("stopping the TLS node: %v\n%s", err, out)
		return // keep its directory for a look at the logs
	}
	if err := os.RemoveAll(n.base); err != nil {
		t.Errorf("removing the TLS node's directory: %v", err)
	}
}

// log returns the end of the node's log files, for a failed start.
func (n *tlsNode) log() string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(n.base, "log", "*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "==> %s <==\n%s\n", f, data)
	}
	return b.String()
}
