package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// runWarren runs the command line args and returns its exit code and
// output.
func runWarren(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "")
	tests := []struct {
		name string
		args []string
		want string // on stderr
	}{
		{"no command", nil, "usage: warren <command>"},
		{"unknown command", []string{"frobnicate"}, `warren: unknown command "frobnicate"`},
		{"unknown flag before command", []string{"-v"}, `warren: unknown command "-v"`},
		{"help for unknown command", []string{"help", "frobnicate"}, `warren help: unknown command "frobnicate"`},
		{"help with two commands", []string{"help", "demo", "call"}, "warren help: too many arguments"},
		{"demo unknown flag", []string{"demo", "-bogus"}, "flag provided but not defined: -bogus"},
		{"demo argument", []string{"demo", "now"}, `warren demo: unexpected argument "now"`},
		{"demo empty topic", []string{"demo", "-topic", ""}, "-topic must not be empty"},
		{"demo zero timeout", []string{"demo", "-timeout", "0s"}, "-timeout must be positive"},
		{"demo bad timeout", []string{"demo", "-timeout", "soon"}, `invalid value "soon" for flag -timeout`},
		{"version argument", []string{"version", "now"}, `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runWarren(t, tt.args...)
			if code != exitUsage {
				t.Errorf("warren %q = %d, want %d", tt.args, code, exitUsage)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("warren %q stderr lacks %q:\n%s", tt.args, tt.want, stderr)
			}
			if !strings.Contains(stderr, "usage: warren") {
				t.Errorf("warren %q stderr has no usage:\n%s", tt.args, stderr)
			}
			if stdout != "" {
				t.Errorf("warren %q printed on stdout:\n%s", tt.args, stdout)
			}
		})
	}
}

// TestBadInput runs the commands that talk to a broker with bad command
// lines: each exits 2 with one line on stderr, before dialing.
func TestBadInput(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "")
	tests := []struct {
		name string
		args []string
		want string // on stderr
	}{
		{"call without topic", []string{"call", "add"}, "warren call: bad input: --topic is required"},
		{"call without method", []string{"call", "--topic", "calc"}, "a method is required"},
		{"call with list arguments", []string{"call", "--topic", "calc", "divide", "[1, 2]"}, "ARGS must be a JSON object"},
		{"call with bad JSON", []string{"call", "--topic", "calc", "divide", "{num1: 1}"}, "ARGS must be a JSON object"},
		{"call with extra argument", []string{"call", "--topic", "calc", "divide", "{}", "more"}, `unexpected argument "more"`},
		{"call zero timeout", []string{"call", "--timeout", "0s", "--topic", "calc", "divide"}, "--timeout must be positive"},
		{"call fanout", []string{"call", "--fanout", "--topic", "calc", "divide"}, "flag provided but not defined: -fanout"},
		{"call bad version", []string{"call", "--topic", "calc", "--version", "one", "divide"}, "target: invalid target"},
		{"call bad ctx", []string{"call", "--topic", "calc", "--ctx", "user", "divide"}, `"user" is not key=value or key:=JSON`},
		{"call bad URL", []string{"call", "--url", "http://example.com/", "--topic", "calc", "add"}, "transport: invalid transport URL"},
		{"call memory URL", []string{"call", "--url", "memory://", "--topic", "calc", "add"}, "call needs a broker"},
		{"call bad flag as JSON", []string{"call", "--json", "--bogus"}, `{"command":"call","exit_code":2,"kind":"usage","error":"bad input: flag provided but not defined: -bogus`},
		{"cast without method", []string{"cast", "--fanout", "--topic", "calc"}, "a method is required"},
		{"ping with argument", []string{"ping", "--topic", "calc", "now"}, `unexpected argument "now"`},
		{"ping without topic", []string{"ping"}, "--topic is required"},
		{"serve without topic", []string{"serve"}, "--topic is required"},
		{"serve zero workers", []string{"serve", "--topic", "t", "--workers", "0"}, "--workers must be at least 1"},
		{"serve bad URL", []string{"serve", "--topic", "t", "--url", "rabbit://h:notaport/"}, "transport: invalid transport URL"},
		{"notify without event type", []string{"notify"}, "--event-type is required"},
		{"notify bad priority", []string{"notify", "--event-type", "e", "--priority", "loud"}, "--priority: "},
		{"notify bad payload", []string{"notify", "--event-type", "e", "{"}, "PAYLOAD must be JSON"},
		{"listen bad priority", []string{"listen", "--priority", "info,loud"}, "--priority: "},
		{"listen negative count", []string{"listen", "--count", "-1"}, "--count must not be negative"},
		{"listen argument", []string{"listen", "now"}, `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runWarren(t, tt.args...)
			if code != exitUsage {
				t.Errorf("warren %q = %d, want %d", tt.args, code, exitUsage)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("warren %q stderr lacks %q:\n%s", tt.args, tt.want, stderr)
			}
			if strings.Count(stderr, "\n") != 1 {
				t.Errorf("warren %q stderr is not one line:\n%s", tt.args, stderr)
			}
			if stdout != "" {
				t.Errorf("warren %q printed on stdout:\n%s", tt.args, stdout)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // on stdout
	}{
		{"help", []string{"help"}, []string{"usage: warren <command>", "demo", "call", "cast", "serve", "ping", "notify", "listen", "bench", "version", "help", "exit codes: 0 success; 1 remote failure"}},
		{"-h", []string{"-h"}, []string{"usage: warren <command>"}},
		{"help demo", []string{"help", "demo"}, []string{"usage: warren demo [flags]", "--url", "--exchange", "-topic", "-timeout"}},
		{"help call", []string{"help", "call"}, []string{"usage: warren call --topic T [flags] METHOD [ARGS]", "--url URL", "--exchange exchange", "--topic", "--server", "--namespace", "--version", "--ctx key=value", "--json", "--timeout duration", "(default 30s)", "exit codes:"}},
		{"help cast", []string{"help", "cast"}, []string{"usage: warren cast --topic T [flags] METHOD [ARGS]", "--fanout", "--ctx"}},
		{"help ping", []string{"help", "ping"}, []string{"usage: warren ping --topic T [--server S] [flags]", "oslo_rpc_server_ping", "--timeout duration", "(default 5s)", "--json"}},
		{"help serve", []string{"help", "serve"}, []string{"usage: warren serve --topic T [--server S] [flags]", "--workers", "--grace", "echo(data)", "divide(num1, num2=1)"}},
		{"help notify", []string{"help", "notify"}, []string{"usage: warren notify --event-type E [flags] [PAYLOAD]", "--priority", "--publisher-id", "--topic", "(default notifications)"}},
		{"help listen", []string{"help", "listen"}, []string{"usage: warren listen [flags]", "--pool", "--count", "--priority"}},
		{"help bench", []string{"help", "bench"}, []string{"usage: warren bench [--topic T [--server S]] [flags]", "--url", "--topic", "--server", "--mode", "--concurrency",
			"--duration", "(default 10s)", "--count", "--payload", "--timeout", "(default 5s)", "--warmup", "--replicas", "--json", "deprecated: use --concurrency", "exit codes:"}},
		{"help version", []string{"help", "version"}, []string{"usage: warren version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runWarren(t, tt.args...)
			if code != exitOK {
				t.Errorf("warren %q = %d, want 0; stderr:\n%s", tt.args, code, stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(stdout, want) {
					t.Errorf("warren %q stdout lacks %q:\n%s", tt.args, want, stdout)
				}
			}
		})
	}
}

func TestCommandHelpFlag(t *testing.T) {
	for _, c := range commands() {
		for _, flag := range []string{"-h", "--help"} {
			code, stdout, stderr := runWarren(t, c.name, flag)
			if code != exitOK || stdout != "" || !strings.Contains(stderr, "usage: warren "+c.name) {
				t.Errorf("warren %s %s = %d, stdout %q, stderr:\n%s\nwant 0, usage on stderr", c.name, flag, code, stdout, stderr)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := runWarren(t, "version")
	if code != exitOK {
		t.Fatalf("warren version = %d; stderr:\n%s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "warren ") || !strings.HasSuffix(stdout, " "+runtime.Version()+"\n") {
		t.Errorf("warren version printed %q, want \"warren <version> %s\"", stdout, runtime.Version())
	}
}

// TestOutputHidesPassword runs the commands that reach a broker with
// transport URLs whose password (pieces Xq7 and Zk9) is malformed or
// whose broker cannot be reached: nothing they print shows it.
func TestOutputHidesPassword(t *testing.T) {
	urls := []string{
		"rabbit://user:Xq7/Zk9@h:5672/",
		"rabbit://user:Xq7?Zk9@h:5672/",
		"rabbit://user:Xq7,Zk9@h:5672/",
		"rabbit://user:Xq7@Zk9@h:bad/",
		"rabbit://user:Xq7%zzZk9@h/",
		"rabbit://user:Xq7Zk9@h:99999/",
		"rabbit:/user:Xq7Zk9@h/",
		"amqps://user:Xq7Zk9@127.0.0.1:1/?ssl_ca_file=/missing.pem",
		"rabbit://user:Xq7Zk9@127.0.0.1:1/",
	}
	// The transport retries an unreachable broker within the timeout:
	// keep it short.
	commands := [][]string{
		{"call", "--timeout", "1s", "--topic", "calculator", "add"},
		{"cast", "--timeout", "1s", "--topic", "calculator", "add"},
		{"ping", "--timeout", "1s", "--topic", "calculator"},
		{"notify", "--timeout", "1s", "--event-type", "e"},
		{"demo", "-timeout", "1s"},
		{"bench", "-n", "1", "-timeout", "1s"},
	}
	for _, u := range urls {
		for _, args := range commands {
			t.Run(args[0]+" "+u, func(t *testing.T) {
				t.Setenv("WARREN_TRANSPORT_URL", u)
				code, stdout, stderr := runWarren(t, args...)
				if code == exitOK {
					t.Errorf("warren %q = %d, want a failure; stderr:\n%s", args, code, stderr)
				}
				if out := stdout + stderr; strings.Contains(out, "Xq7") || strings.Contains(out, "Zk9") {
					t.Errorf("warren %q with %s printed the password:\n%s", args, u, out)
				}
			})
		}
	}
}

// TestDemoURLFlag runs the demo on the URL --url names, over a
// WARREN_TRANSPORT_URL that would fail.
func TestDemoURLFlag(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "rabbit://h:notaport/")
	code, stdout, stderr := runWarren(t, "demo", "--url", "memory://", "--exchange", "demo-x")
	if code != exitOK || !strings.Contains(stdout, "demo passed") || !strings.Contains(stdout, "on the in-process memory driver") {
		t.Errorf("warren demo --url memory:// = %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
