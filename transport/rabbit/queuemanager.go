package rabbit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/topology"
)

// maxClaims bounds how many names claimQueue tries before it gives up:
// that many processes with one host and process name would be a
// misconfiguration.
const maxClaims = 100

// managedKey is what use_queue_manager counts names by: the host and
// process of the names and what the name is for (reply_, or
// <topic>_fanout_).
type managedKey struct{ host, process, kind string }

// managedNames holds, per managedKey, the last n the process handed out.
// oslo.messaging keeps one counter per host and process name in
// /dev/shm, shared by the processes of one process group (a service and
// the workers it forks) and started over when the group changes; a Go
// program is one process, so its counters live in memory, one per kind of
// name, so that the n of a name depends on neither the order in which the
// program first calls and listens nor on its other topics.
var managedNames = struct {
	sync.Mutex
	last map[managedKey]int
}{last: make(map[managedKey]int)}

// nextManaged returns the next n of k.
func nextManaged(k managedKey) int {
	managedNames.Lock()
	defer managedNames.Unlock()
	managedNames.last[k]++
	return managedNames.last[k]
}

// managerNames returns the host and process of the queue manager's names:
// Hostname and ProcessName, or the host's name and the base name of
// os.Args[0] for those that are empty, as oslo.messaging's defaults.
func (q Queues) managerNames() (host, process string) {
	host, process = q.Hostname, q.ProcessName
	if host == "" {
		var err error
		if host, err = os.Hostname(); err != nil || host == "" {
			host = "localhost"
		}
	}
	if process == "" {
		process = filepath.Base(os.Args[0])
	}
	return host, process
}

// claimQueue returns a queue name from the queue manager, name(id) with
// id <host>:<process>:<n>, on the transport's consuming connection
// within ctx.
func (t *Transport) claimQueue(ctx context.Context, name func(id string) string) (string, error) {
	return awaitBroker(ctx, t, "naming a queue", func() (string, error) {
		s, err := t.session(ctx)
		if err != nil {
			return "", err
		}
		return t.claimQueueOn(s, name)
	}, nil)
}

// claimQueueOn does claimQueue's work on s. It takes the next n and
// skips the names whose queue exists with a consumer: another process
// with the same host and process name holds it, and sharing a reply or
// fanout queue would split its messages between the two. Two such
// processes that claim a name in the same instant may still both take it.
func (t *Transport) claimQueueOn(s *session, name func(id string) string) (string, error) {
	host, process := t.s.queues.managerNames()
	key := managedKey{host, process, name("")}
	for range maxClaims {
		q := name(topology.ManagedID(host, process, nextManaged(key)))
		// A passive declare of a missing queue closes its channel: each
		// probe has a channel of its own.
		ch, err := s.con.Channel()
		if err != nil {
			return "", t.failure(s.con, "naming queue "+q, err)
		}
		got, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
		_ = ch.Close()
		var ae *amqp.Error
		switch {
		case errors.As(err, &ae) && ae.Code == amqp.NotFound:
			return q, nil
		case err != nil:
			return "", t.failure(s.con, "naming queue "+q, err)
		case got.Consumers == 0:
			return q, nil
		}
		t.log.Warn("rabbit: another consumer holds the queue of this name (use_queue_manager); taking the next name",
			"queue", q, "consumers", got.Consumers, "hostname", host, "processname", process)
	}
	return "", fmt.Errorf("rabbit: naming a queue %s: another consumer holds each of %d names; give each process its own processname",
		name(host+":"+process+":<n>"), maxClaims)
}
