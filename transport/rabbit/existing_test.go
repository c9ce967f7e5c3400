package rabbit

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TestExchangeBook checks on which connections the book holds an
// exchange declared: the last two that accepted the same declaration.
func TestExchangeBook(t *testing.T) {
	pub, con, next := new(amqp.Connection), new(amqp.Connection), new(amqp.Connection)
	plain := exchangeDecl{name: "x", kind: amqp.ExchangeTopic}
	durable := plain
	durable.durable = true
	var b exchangeBook
	steps := []struct {
		decl     exchangeDecl
		conn     *amqp.Connection
		on, next []*amqp.Connection // accepted on; not on
	}{
		{plain, pub, []*amqp.Connection{pub}, []*amqp.Connection{con, next}},
		{plain, con, []*amqp.Connection{pub, con}, []*amqp.Connection{next}},
		{durable, next, []*amqp.Connection{next}, []*amqp.Connection{pub, con}},
	}
	for i, s := range steps {
		b.put(s.decl, s.conn)
		e, ok := b.get("x")
		if !ok || e.decl != s.decl {
			t.Fatalf("step %d: get = %+v, %v; want %+v", i, e, ok, s.decl)
		}
		for _, c := range s.on {
			if !e.on(c) {
				t.Errorf("step %d: not on a connection that accepted it", i)
			}
		}
		for _, c := range s.next {
			if e.on(c) {
				t.Errorf("step %d: on a connection that did not accept it", i)
			}
		}
	}
	b.forget("x")
	if _, ok := b.get("x"); ok {
		t.Errorf("get after forget found the exchange")
	}
}
