package notify

import (
	"fmt"
	"slices"
	"strings"
)

// Priority is an oslo.messaging notification priority, in lower case as
// in routing keys and queue names; the wire carries it in upper case.
type Priority string

// The priorities oslo.messaging defines.
const (
	Audit    Priority = "audit"
	Debug    Priority = "debug"
	Info     Priority = "info"
	Warn     Priority = "warn"
	Error    Priority = "error"
	Critical Priority = "critical"
	Sample   Priority = "sample"
)

// priorities lists every priority, in oslo.messaging's order.
var priorities = []Priority{Audit, Debug, Info, Warn, Error, Critical, Sample}

// Priorities returns every priority, in oslo.messaging's order.
func Priorities() []Priority { return slices.Clone(priorities) }

// ParsePriority returns the priority named s, in any case; oslo's
// "warning" is read as Warn.
func ParsePriority(s string) (Priority, error) {
	p := Priority(strings.ToLower(s))
	if p == "warning" {
		p = Warn
	}
	if !slices.Contains(priorities, p) {
		return "", fmt.Errorf("notify: unknown priority %q (known: %v)", s, priorities)
	}
	return p, nil
}

func lower(s string) string { return strings.ToLower(s) }
