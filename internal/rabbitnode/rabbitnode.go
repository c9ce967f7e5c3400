// Package rabbitnode starts private RabbitMQ nodes from the installed
// rabbitmq-server, for tests that break a broker on purpose: each node has
// its own name, AMQP and distribution ports, config file and data
// directory, so stopping it never disturbs the machine's shared broker or
// another test. Nodes share the rabbitmq user's Erlang cookie, so they can
// form a cluster. Reserve hands out ports so that test processes running
// side by side never pick the same ones.
//
// The installed /etc/rabbitmq/rabbitmq.conf pins the AMQP listener to
// 5672, so every node gets a config file of its own. Run as root,
// rabbitmq-server switches to the rabbitmq user: the node's directory is
// handed to that user.
package rabbitnode

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Node is one private RabbitMQ node. Its methods may be called from one
// goroutine at a time.
type Node struct {
	// Name is the Erlang node name, such as warren-chaos-1@localhost.
	Name string
	// Port is the AMQP port on 127.0.0.1.
	Port int
	// DistPort is the Erlang distribution port.
	DistPort int

	dir string
	env []string
}

// Start starts a node named name@localhost listening for AMQP on
// 127.0.0.1:port, with Erlang distribution on distPort and its data under
// a fresh directory in dir, and waits until it runs. ctx bounds the wait.
func Start(ctx context.Context, dir, name string, port, distPort int) (*Node, error) {
	base, err := os.MkdirTemp(dir, name+"-")
	if err != nil {
		return nil, fmt.Errorf("rabbitnode: %w", err)
	}
	n := &Node{Name: name + "@localhost", Port: port, DistPort: distPort, dir: base}
	for _, d := range []string{"log", "mnesia"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			return nil, fmt.Errorf("rabbitnode: %w", err)
		}
	}
	conf := fmt.Sprintf("listeners.tcp.local = 127.0.0.1:%d\n", port)
	if err := os.WriteFile(filepath.Join(base, "rabbitmq.conf"), []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("rabbitnode: %w", err)
	}
	if err := os.WriteFile(filepath.Join(base, "enabled_plugins"), []byte("[].\n"), 0o644); err != nil {
		return nil, fmt.Errorf("rabbitnode: %w", err)
	}
	if err := giveToRabbitMQ(base); err != nil {
		return nil, err
	}
	n.env = append(baseEnv(),
		"RABBITMQ_NODENAME="+n.Name,
		"RABBITMQ_NODE_PORT="+strconv.Itoa(port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(distPort),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(base, "rabbitmq"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(base, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(base, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(base, "pid"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(base, "enabled_plugins"),
	)
	if err := n.Boot(ctx); err != nil {
		n.Remove()
		return nil, err
	}
	return n, nil
}

// baseEnv is the environment of the rabbitmq commands: only PATH, HOME and
// LANG of ours, so that nothing meant for this process (Go's settings,
// another node's RABBITMQ_*) reaches the broker's scripts.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// giveToRabbitMQ hands dir and everything in it to the rabbitmq user when
// running as root.
func giveToRabbitMQ(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("rabbitmq")
	if err != nil {
		return fmt.Errorf("rabbitnode: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	})
}

// Boot starts the node's Erlang VM and waits within ctx until RabbitMQ
// runs on it: after Start, use it to bring a node back after Stop.
func (n *Node) Boot(ctx context.Context) error {
	// The detached VM inherits the command's output: a file, not a pipe
	// that would close under it.
	out, err := os.OpenFile(filepath.Join(n.dir, "server.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("rabbitnode: %w", err)
	}
	defer out.Close()
	// A pid file left by an earlier run would let the wait below go
	// ahead before this VM runs.
	pidFile := filepath.Join(n.dir, "pid")
	_ = os.Remove(pidFile)
	cmd := exec.CommandContext(ctx, "rabbitmq-server", "-detached")
	cmd.Env = n.env
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("rabbitnode: rabbitmq-server -detached for %s: %v (output in %s)", n.Name, err, out.Name())
	}
	// The VM writes its pid file a while after -detached returns, and not
	// in one step: rabbitmqctl wait <pidfile> fails with
	// garbage_in_pid_file when it reads the file empty. Read it until it
	// holds a pid, then wait for RabbitMQ to run in that VM.
	pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	pid, err := readPID(pctx, pidFile)
	cancel()
	if err != nil {
		return fmt.Errorf("rabbitnode: %s did not start: %w (output in %s)", n.Name, err, out.Name())
	}
	if _, err := n.Ctl(ctx, "wait", "--pid", strconv.Itoa(pid), "--timeout", "120"); err != nil {
		return fmt.Errorf("rabbitnode: %s did not start: %w (logs in %s)", n.Name, err, filepath.Join(n.dir, "log"))
	}
	return nil
}

// readPID reads the pid in file, polling every 50 ms until the file holds
// one, the same at two reads in a row (the VM writes the number without
// a line end, so a read may catch it half written), or ctx ends.
func readPID(ctx context.Context, file string) (int, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := 0
	for {
		pid := 0
		if b, err := os.ReadFile(file); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if pid > 0 && pid == last {
			return pid, nil
		}
		last = pid
		select {
		case <-tick.C:
		case <-ctx.Done():
			return 0, fmt.Errorf("no pid in %s: %w", file, ctx.Err())
		}
	}
}

// URL returns the node's AMQP URL with the guest user.
func (n *Node) URL() string { return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.Port) }

// Addr returns the node's AMQP "host:port".
func (n *Node) Addr() string { return "127.0.0.1:" + strconv.Itoa(n.Port) }

// Ctl runs rabbitmqctl against the node with args and returns its output.
func (n *Node) Ctl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "rabbitmqctl", append([]string{"-n", n.Name}, args...)...)
	cmd.Env = n.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("rabbitmqctl -n %s %s: %v: %s", n.Name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// JoinCluster makes the node a member of other's cluster: stop_app,
// join_cluster, start_app.
func (n *Node) JoinCluster(ctx context.Context, other *Node) error {
	for _, args := range [][]string{{"stop_app"}, {"join_cluster", other.Name}, {"start_app"}} {
		if _, err := n.Ctl(ctx, args...); err != nil {
			return fmt.Errorf("rabbitnode: %w", err)
		}
	}
	return nil
}

// Stop stops the node's Erlang VM (rabbitmqctl stop) and waits for it.
func (n *Node) Stop(ctx context.Context) error {
	_, err := n.Ctl(ctx, "stop")
	return err
}

// Remove stops the node if it runs and deletes its directory. It is meant
// for cleanups: it gives the node 60 s and reports nothing.
func (n *Node) Remove() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil && n.running(ctx) {
		// Last resort: the VM did not stop; kill it by its pid file.
		if pid, perr := os.ReadFile(filepath.Join(n.dir, "pid")); perr == nil {
			if p, aerr := strconv.Atoi(strings.TrimSpace(string(pid))); aerr == nil {
				if proc, ferr := os.FindProcess(p); ferr == nil {
					_ = proc.Kill()
				}
			}
		}
	}
	_ = os.RemoveAll(n.dir)
}

// running reports whether the node answers rabbitmqctl ping.
func (n *Node) running(ctx context.Context) bool {
	_, err := n.Ctl(ctx, "ping")
	return err == nil
}

// ErrNoFreePort means every port of a range is taken.
var ErrNoFreePort = errors.New("rabbitnode: no free port")

// Reservation holds an AMQP port and its distribution port for one node
// of this machine until Release: two test processes that reserve from the
// same range never get the same ports.
type Reservation struct {
	// Port is the AMQP port; DistPort is Port + distOffset.
	Port, DistPort int

	lock *os.File
}

// Reserve returns the first port of [first, last] that no other process
// reserved and that is free on 127.0.0.1, with port+distOffset free on
// every interface (Erlang distribution listens on all of them). The
// reservation is an exclusive lock on a file in os.TempDir(), which the
// kernel releases when the process ends, however it ends.
func Reserve(first, last, distOffset int) (*Reservation, error) {
	for p := first; p <= last; p++ {
		f, err := os.OpenFile(filepath.Join(os.TempDir(), fmt.Sprintf("warren-rabbitnode-%d.lock", p)), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("rabbitnode: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue // another process holds it
		}
		if free("127.0.0.1", p) && free("", p+distOffset) {
			return &Reservation{Port: p, DistPort: p + distOffset, lock: f}, nil
		}
		f.Close() // closing releases the lock
	}
	return nil, fmt.Errorf("%w in %d-%d", ErrNoFreePort, first, last)
}

// free reports whether a TCP listener can bind host:port now.
func free(host string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Release gives the ports back. Stop the node first.
func (r *Reservation) Release() { r.lock.Close() }

// ErrUnavailable means rabbitmq-server is not installed.
var ErrUnavailable = errors.New("rabbitnode: rabbitmq-server is not installed")

// Available returns ErrUnavailable when rabbitmq-server or rabbitmqctl
// is not on PATH.
func Available() error {
	for _, c := range []string{"rabbitmq-server", "rabbitmqctl"} {
		if _, err := exec.LookPath(c); err != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	return nil
}
