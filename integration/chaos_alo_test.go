package integration_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/warrenrpc/warren/internal/rabbitnode"
	"github.com/warrenrpc/warren/transport/rabbit"
)

// The chaos tests of at-least-once casts (rabbit.AtLeastOnce) on quorum
// queues: every cast the broker confirmed is handled, through a broker
// restart, the kill -9 of a replica in the middle of handling casts, and
// the loss of the cluster node that leads the topic's quorum queue.

// quorumPreset is the queue preset of everyone in those tests.
var quorumPreset = rabbit.QueuePreset(rabbit.Queues{Quorum: true})

// checkOnce prints the at-least-once summary and asserts that no confirmed
// cast was lost and, when twiceOK is false, that none was handled twice.
func (rep *report) checkOnce(t *testing.T, twiceOK bool) {
	t.Helper()
	t.Logf("chaos: %s: casts confirmed: %d, handled: %d, lost: %d, handled twice: %d",
		rep.fault, rep.castsConfirmed, rep.castsConfirmed-rep.lost, rep.lost, rep.duplicates)
	if rep.lost != 0 {
		t.Errorf("%d confirmed casts were never handled, want 0", rep.lost)
	}
	if !twiceOK && rep.duplicates != 0 {
		t.Errorf("%d casts were handled twice, want 0", rep.duplicates)
	}
	if rep.castsConfirmed == 0 {
		t.Errorf("no cast was confirmed")
	}
}

// TestChaosAtLeastOnceBrokerRestart restarts the broker (stop_app, 3 s,
// start_app) under steady load, with one replica handling casts at least
// once from quorum queues: casts handled when the connection dropped lose
// their ack and come back after the restart, and the replica drops them
// as duplicates; casts the restart found unacked are handled then. With
// more replicas a cast whose ack was lost may come back to another
// replica, which runs it again: the duplicate window is each listener's.
func TestChaosAtLeastOnceBrokerRestart(t *testing.T) {
	n := chaosNode(t, "alorestart")
	r := newRigWith(t, "chaos-alo-restart", n.URL(), n.URL(), rigConfig{replicas: 1, atLeastOnce: true, work: 20 * time.Millisecond})
	rep := chaos(t, r, "at-least-once casts, quorum queues, one replica: broker restart (stop_app, 3 s, start_app)", func() {
		ctl(t, n, "stop_app")
		hold(3 * time.Second)
		ctl(t, n, "start_app")
	})
	rep.check(t, r.replicas, false)
	rep.checkOnce(t, false)
}

// TestChaosAtLeastOnceKill kills one of three replicas with SIGKILL while
// it is handling casts (each takes 100 ms): the broker gives the casts it
// held unacked to the other two, which handle them.
func TestChaosAtLeastOnceKill(t *testing.T) {
	n := chaosNode(t, "alokill")
	r := newRigWith(t, "chaos-alo-kill", n.URL(), n.URL(), rigConfig{replicas: 3, atLeastOnce: true, work: 100 * time.Millisecond})
	victim := r.replicas[1]
	var midway []string // casts the victim was handling when killed
	rep := chaos(t, r, "at-least-once casts, quorum queues: kill -9 of a replica handling casts", func() {
		timeout := time.After(10 * time.Second)
		for {
			r.mu.Lock()
			midway = slices.Collect(maps.Keys(r.handling[victim.name]))
			r.mu.Unlock()
			if len(midway) >= 2 {
				break
			}
			select {
			case <-r.handledNews:
			case <-timeout:
				t.Fatalf("replica %s was never handling two casts at once", victim.name)
			}
		}
		victim.killed.Store(true)
		if err := victim.cmd.Process.Kill(); err != nil {
			t.Fatalf("killing replica %s: %v", victim.name, err)
		}
	})
	r.mu.Lock()
	handled := 0
	for _, id := range midway {
		if r.handled[id] > 0 {
			handled++
		}
	}
	r.mu.Unlock()
	t.Logf("chaos: replica %s was killed handling %d casts; %d of them were handled by the others", victim.name, len(midway), handled)
	if handled != len(midway) {
		t.Errorf("%d of the %d casts the killed replica was handling were handled, want all", handled, len(midway))
	}
	rep.check(t, []*replica{r.replicas[0], r.replicas[2]}, false)
	rep.checkOnce(t, false)
}

// TestChaosQuorumLeaderLoss runs three clustered nodes and stops the one
// that leads the topic's quorum queue, under steady load with casts
// handled at least once: a new leader takes over, the replicas and
// clients on the lost node fail over, calls are served again within the
// bound and every confirmed cast is handled. A cast whose ack was lost
// with a connection may run again on another replica: handled twice is
// reported, not asserted.
func TestChaosQuorumLeaderLoss(t *testing.T) {
	nodes, url := chaosCluster(t, "q")
	r := newRigWith(t, "chaos-leader", url, url, rigConfig{replicas: 3, atLeastOnce: true, work: 20 * time.Millisecond})
	leader := quorumLeader(t, nodes, r.topic)
	rep := chaos(t, r, "at-least-once casts, quorum queues: the node leading the topic queue ("+leader.Name+") lost", func() {
		ctl(t, leader, "stop")
	})
	rep.check(t, r.replicas, false)
	rep.checkOnce(t, true)
}

// quorumLeader returns the node of nodes that leads quorum queue queue.
func quorumLeader(t *testing.T, nodes []*rabbitnode.Node, queue string) *rabbitnode.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := nodes[0].Ctl(ctx, "list_queues", "-q", "name", "type", "leader", "--formatter", "json")
	if err != nil {
		t.Fatal(err)
	}
	var queues []struct{ Name, Type, Leader string }
	if err := json.Unmarshal([]byte(out), &queues); err != nil {
		t.Fatalf("list_queues: %v: %s", err, out)
	}
	for _, q := range queues {
		if q.Name != queue {
			continue
		}
		if q.Type != "quorum" {
			t.Fatalf("queue %s is a %s queue, want quorum", queue, q.Type)
		}
		for _, n := range nodes {
			if n.Name == q.Leader {
				return n
			}
		}
		t.Fatalf("queue %s is led by %q, none of the cluster's nodes", queue, q.Leader)
	}
	t.Fatalf("no queue %s in list_queues: %s", queue, out)
	return nil
}
