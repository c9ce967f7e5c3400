package target

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadVersion is the condition every version parse error matches with
// errors.Is.
var ErrBadVersion = errors.New("target: version must be \"X.Y\" or \"X.Y.Z\"")

// Version is a parsed API version. Rev is zero when the string had no third
// part.
type Version struct {
	Major, Minor, Rev int
}

// ParseVersion parses "X.Y" or "X.Y.Z", where each part is a non-negative
// decimal number.
func ParseVersion(s string) (Version, error) {
	var n [3]int
	rest := s
	for i := range n {
		part, tail, more := strings.Cut(rest, ".")
		v, err := strconv.Atoi(part)
		if err != nil || v < 0 || part == "" || part[0] == '+' || part[0] == '-' {
			return Version{}, fmt.Errorf("%w: %q", ErrBadVersion, s)
		}
		n[i] = v
		if !more {
			if i == 0 {
				return Version{}, fmt.Errorf("%w: %q", ErrBadVersion, s)
			}
			return Version{Major: n[0], Minor: n[1], Rev: n[2]}, nil
		}
		rest = tail
	}
	return Version{}, fmt.Errorf("%w: %q", ErrBadVersion, s)
}

// String formats v as "X.Y", or "X.Y.Z" when Rev is not zero.
func (v Version) String() string {
	if v.Rev != 0 {
		return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Rev)
	}
	return fmt.Sprintf("%d.%d", v.Major, v.Minor)
}

// Compatible reports whether an implementation at version imp can serve a
// request for version req, by oslo.messaging's rule: the majors are equal,
// req's minor is at most imp's, and when the minors are equal req's revision
// is at most imp's. An empty imp accepts everything; an empty req is
// accepted by no non-empty imp. Malformed versions are never compatible.
func Compatible(imp, req string) bool {
	if imp == "" {
		return true
	}
	if req == "" {
		return false
	}
	i, err := ParseVersion(imp)
	if err != nil {
		return false
	}
	r, err := ParseVersion(req)
	if err != nil {
		return false
	}
	if i.Major != r.Major || r.Minor > i.Minor {
		return false
	}
	return r.Minor < i.Minor || r.Rev <= i.Rev
}
