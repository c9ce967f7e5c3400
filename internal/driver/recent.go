package driver

import "sync"

// RecentSize is how many _unique_id values a Recent remembers. oslo.messaging
// remembers 16 per listener; a longer window also catches a redelivery
// that waited behind a full prefetch window of other requests.
const RecentSize = 4096

// Recent remembers the last RecentSize _unique_id values a listener handed
// out, so that a request delivered twice (a publisher that sent it again,
// a redelivery after a lost ack) is handed out once, as oslo.messaging's
// msg_id cache does. The zero value is ready to use; it is safe for
// concurrent use.
type Recent struct {
	mu    sync.Mutex
	ids   map[string]struct{}
	order [RecentSize]string // a ring of the remembered ids, oldest at next
	next  int
}

// Add remembers id and reports whether it is new: false when id is among
// the last RecentSize ids added. An empty id is always new and never
// remembered, as oslo.messaging treats a message without _unique_id.
func (r *Recent) Add(id string) bool {
	if id == "" {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.ids[id]; ok {
		return false
	}
	if r.ids == nil {
		r.ids = make(map[string]struct{}, RecentSize)
	}
	if old := r.order[r.next]; old != "" {
		delete(r.ids, old)
	}
	r.order[r.next] = id
	r.next = (r.next + 1) % RecentSize
	r.ids[id] = struct{}{}
	return true
}

// seen reports whether id is among the ids remembered, without adding it.
func (r *Recent) seen(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ids[id]
	return ok
}
