package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/warrenrpc/warren"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// Exit codes of every command, listed by warren help and the README.
const (
	exitOK          = 0 // success
	exitFailed      = 1 // the remote method failed, or the command failed otherwise
	exitUsage       = 2 // bad command line or bad input: flag, JSON, URL
	exitTimeout     = 3 // no reply in time
	exitUnreachable = 4 // no queue takes the message, or the broker cannot be reached
)

// exitCodesHelp documents the exit codes in usage texts.
const exitCodesHelp = `exit codes: 0 success; 1 remote failure; 2 usage or bad input;
3 timeout; 4 no route (nobody serves the target) or broker unreachable`

// defaultURL is the transport URL when neither --url nor
// WARREN_TRANSPORT_URL gives one: a RabbitMQ on this host.
const defaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// errUnreachable marks the failure to connect to the broker.
var errUnreachable = errors.New("broker unreachable")

// errBadInput marks input from the command line that cannot be used.
var errBadInput = errors.New("bad input")

// connFlags are the flags of every command that talks to a broker.
type connFlags struct {
	url, exchange string
}

// register adds --url and --exchange to fs. Their defaults are resolved
// when dialing, so usage texts never show a password from the environment.
func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "", "transport `URL` (default $WARREN_TRANSPORT_URL, else "+defaultURL+")")
	fs.StringVar(&c.exchange, "exchange", "", "control `exchange` (default $WARREN_CONTROL_EXCHANGE, else "+transport.DefaultControlExchange+")")
}

// config returns the transport configuration: the flags, else the
// environment, else the defaults.
func (c *connFlags) config() (transport.Config, error) {
	return c.configOr(defaultURL)
}

// configOr is config with url as the default transport URL.
func (c *connFlags) configOr(url string) (transport.Config, error) {
	cfg, err := transport.ConfigFromEnv()
	if err != nil {
		return transport.Config{}, fmt.Errorf("%w: %w", errBadInput, err)
	}
	if c.url != "" {
		cfg.URL = c.url
	}
	if cfg.URL == "" {
		cfg.URL = url
	}
	if c.exchange != "" {
		cfg.ControlExchange = c.exchange
	}
	return cfg, nil
}

// dial opens the broker transport for the command cmd. A URL that cannot
// be parsed, or names the in-process memory driver, matches
// transport.ErrInvalidURL; a broker that cannot be reached matches
// errUnreachable.
func (c *connFlags) dial(ctx context.Context, cmd string) (transport.Transport, error) {
	cfg, err := c.config()
	if err != nil {
		return nil, err
	}
	u, err := transport.ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "memory" {
		return nil, fmt.Errorf("%w: memory:// is the in-process driver, which nothing outside this process reaches; %s needs a broker", transport.ErrInvalidURL, cmd)
	}
	tr, err := warren.Dial(ctx, cfg)
	switch {
	case err == nil:
		return tr, nil
	case errors.Is(err, transport.ErrInvalidURL), errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return nil, err // the URL, or a file it names, is wrong
	default:
		return nil, fmt.Errorf("%w: %w", errUnreachable, err)
	}
}

// exitCode returns the exit code for err.
func exitCode(err error) int {
	var remote *rpcerr.RemoteError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &remote):
		return exitFailed
	case errors.Is(err, errBadInput), errors.Is(err, transport.ErrInvalidURL), errors.Is(err, target.ErrInvalid),
		errors.Is(err, transport.ErrMessageTooLarge), errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return exitUsage
	case errors.Is(err, errUnreachable), errors.Is(err, transport.ErrNoRoute), errors.Is(err, transport.ErrConnectionLost),
		errors.Is(err, transport.ErrNotSent), errors.Is(err, transport.ErrBlocked):
		return exitUnreachable
	case errors.Is(err, transport.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return exitTimeout
	default:
		return exitFailed
	}
}

// kindOf names the exit code of err for --json output.
func kindOf(code int) string {
	switch code {
	case exitFailed:
		return "failed"
	case exitUsage:
		return "usage"
	case exitTimeout:
		return "timeout"
	case exitUnreachable:
		return "unreachable"
	}
	return "ok"
}

// reporter prints a command's failures on stderr: as text, or with --json
// as one JSON object.
type reporter struct {
	cmd  string // such as "call"
	json bool
	w    io.Writer
}

// failure is the --json form of a failure.
type failure struct {
	Command  string `json:"command"`
	ExitCode int    `json:"exit_code"`
	Kind     string `json:"kind"`
	Error    string `json:"error"`
	// Remote is the exception of a remote failure.
	Remote *remoteFailure `json:"remote,omitempty"`
}

type remoteFailure struct {
	Module    string   `json:"module"`
	Class     string   `json:"class"`
	Message   string   `json:"message"`
	Traceback []string `json:"traceback,omitempty"`
}

// fail reports err and returns its exit code. A remote error is printed
// as "remote error: <module>.<class>: <message>" and its traceback, any
// other error as one line.
func (r *reporter) fail(err error) int {
	code := exitCode(err)
	var remote *rpcerr.RemoteError
	isRemote := errors.As(err, &remote)
	if r.json {
		f := failure{Command: r.cmd, ExitCode: code, Kind: kindOf(code), Error: err.Error()}
		if isRemote {
			f.Error = fmt.Sprintf("remote error: %s.%s: %s", remote.Module, remote.Class, remote.Message)
			f.Remote = &remoteFailure{Module: remote.Module, Class: remote.Class, Message: remote.Message, Traceback: remote.Traceback}
		}
		b, _ := json.Marshal(f) // strings only: cannot fail
		fmt.Fprintf(r.w, "%s\n", b)
		return code
	}
	if !isRemote {
		fmt.Fprintf(r.w, "warren %s: %v\n", r.cmd, err)
		return code
	}
	fmt.Fprintf(r.w, "remote error: %s.%s: %s\n", remote.Module, remote.Class, remote.Message)
	for _, entry := range remote.Traceback {
		for line := range strings.SplitSeq(strings.TrimRight(entry, "\n"), "\n") {
			fmt.Fprintf(r.w, "  %s\n", line)
		}
	}
	return code
}

// badInput reports a bad command line in one line and returns exitUsage.
func (r *reporter) badInput(format string, args ...any) int {
	return r.fail(fmt.Errorf("%w: %s (warren help %s lists the flags)", errBadInput, fmt.Sprintf(format, args...), r.cmd))
}

// parse parses args into fs, flags and arguments in any order (as in
// "warren call add --topic calc"; after "--" everything is an argument),
// and returns the arguments. When ok is false the command ends with code:
// exitOK after --help printed the usage, exitUsage after a bad flag was
// reported in one line.
func (r *reporter) parse(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	usage := fs.Usage
	fs.Usage = func() {}
	out := fs.Output()
	fs.SetOutput(io.Discard)
	defer func() { fs.Usage = usage; fs.SetOutput(out) }()
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(out)
				usage()
				return nil, exitOK, false
			}
			return nil, r.badInput("%v", err), false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, exitOK, true
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), exitOK, true
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// wantsJSON reports whether args ask for --json, so that even a bad flag
// among them is reported as JSON.
func wantsJSON(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		switch strings.TrimLeft(a, "-") {
		case "json", "json=true", "json=1", "json=t", "json=T", "json=TRUE", "json=True":
			if strings.HasPrefix(a, "-") {
				return true
			}
		}
	}
	return false
}

// contextFlag is the repeatable --ctx flag: request context entries given
// as key=value (a string) or key:=JSON (any JSON value).
type contextFlag map[string]any

func (c contextFlag) String() string { return "" }

func (c contextFlag) Set(s string) error {
	if k, v, ok := strings.Cut(s, ":="); ok && !strings.Contains(k, "=") {
		if k == "" {
			return errors.New("empty key")
		}
		var val any
		if err := json.Unmarshal([]byte(v), &val); err != nil {
			return fmt.Errorf("%s: the value after := must be JSON: %v", k, err)
		}
		c[k] = val
		return nil
	}
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value or key:=JSON", s)
	}
	c[k] = v
	return nil
}

// hostname returns the host's name, the default server name, or "warren"
// when it has none.
func hostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "warren"
}

// brokerURL returns the parsed transport URL of cfg when it names a broker,
// and nil when it names the memory driver (empty or memory://). Its errors
// start with "warren: ". demo, which runs on the memory driver when no
// broker is named, uses it.
func brokerURL(cfg transport.Config) (*transport.URL, error) {
	if cfg.URL == "" {
		return nil, nil
	}
	u, err := transport.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("warren: WARREN_TRANSPORT_URL: %w", err)
	}
	if u.Scheme == "memory" {
		return nil, nil
	}
	return u, nil
}
