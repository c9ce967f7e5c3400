package driver

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/transport"
)

// maxHeaderName is the longest header name an AMQP table holds (a short
// string).
const maxHeaderName = 255

// CastCopy returns the copy of req a driver sends as a cast: with a new
// UniqueID when req has none, and no MsgID or ReplyTo. It fails when ctx
// has ended (with an error matching ctx.Err()) or a header is invalid.
func CastCopy(ctx context.Context, req *message.Request) (*message.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return sendCopy(req)
}

// CallCopy returns the copy of req a driver sends as a call, with a new
// MsgID and a new UniqueID when req has none, and the call's deadline:
// ctx's, to the millisecond. A ctx without deadline gives ErrNoDeadline.
// The driver sets ReplyTo on the copy.
func CallCopy(ctx context.Context, req *message.Request) (*message.Request, time.Time, error) {
	d, ok := ctx.Deadline()
	if !ok {
		return nil, time.Time{}, transport.ErrNoDeadline
	}
	c, err := sendCopy(req)
	if err != nil {
		return nil, time.Time{}, err
	}
	c.MsgID = wire.NewID()
	return c, time.UnixMilli(d.UnixMilli()), nil
}

func sendCopy(req *message.Request) (*message.Request, error) {
	if err := CheckHeaders(req.Headers); err != nil {
		return nil, err
	}
	c := *req
	c.MsgID, c.ReplyTo = "", ""
	if c.UniqueID == "" {
		c.UniqueID = wire.NewID()
	}
	return &c, nil
}

// CheckHeaders returns an error matching transport.ErrInvalidHeader when
// a name of h is empty, longer than 255 bytes, or starts with
// transport.ReservedHeaderPrefix (in any case).
func CheckHeaders(h map[string]string) error {
	for k := range h {
		switch {
		case k == "":
			return fmt.Errorf("%w: empty name", transport.ErrInvalidHeader)
		case len(k) > maxHeaderName:
			return fmt.Errorf("%w: name %.20q... is longer than %d bytes", transport.ErrInvalidHeader, k, maxHeaderName)
		case Reserved(k):
			return fmt.Errorf("%w %q: names starting with %s are reserved", transport.ErrInvalidHeader, k, transport.ReservedHeaderPrefix)
		}
	}
	return nil
}

// Reserved reports whether header name k is one of warren's own.
func Reserved(k string) bool {
	return len(k) >= len(transport.ReservedHeaderPrefix) &&
		strings.EqualFold(k[:len(transport.ReservedHeaderPrefix)], transport.ReservedHeaderPrefix)
}

// Encode encodes req with the wire format and checks the body against
// limit, the driver's largest message: a larger one fails with
// transport.ErrMessageTooLarge.
func Encode(req *message.Request, limit int) ([]byte, error) {
	body, err := wire.EncodeRequest(req)
	if err != nil {
		return nil, err
	}
	if err := CheckSize(len(body), limit); err != nil {
		return nil, err
	}
	return body, nil
}

// CheckSize returns an error matching transport.ErrMessageTooLarge when n
// bytes exceed limit.
func CheckSize(n, limit int) error {
	if n > limit {
		return fmt.Errorf("%w: %d bytes, the limit is %d", transport.ErrMessageTooLarge, n, limit)
	}
	return nil
}
