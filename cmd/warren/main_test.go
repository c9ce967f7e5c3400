package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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
		{"call without arguments", []string{"call"}, "a topic and a method are required"},
		{"call without method", []string{"call", "calculator"}, "a topic and a method are required"},
		{"call with list arguments", []string{"call", "calculator", "divide", "[1, 2]"}, "json-args must be a JSON object"},
		{"call with bad JSON", []string{"call", "calculator", "divide", "{num1: 1}"}, "json-args must be a JSON object"},
		{"call with extra argument", []string{"call", "calculator", "divide", "{}", "more"}, `unexpected argument "more"`},
		{"call zero timeout", []string{"call", "-timeout", "0s", "calculator", "divide"}, "-timeout must be positive"},
		{"call fanout", []string{"call", "-fanout", "calculator", "divide"}, "flag provided but not defined: -fanout"},
		{"cast without arguments", []string{"cast", "-fanout"}, "a topic and a method are required"},
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

func TestHelp(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // on stdout
	}{
		{"help", []string{"help"}, []string{"usage: warren <command>", "demo", "call", "cast", "bench", "version", "help"}},
		{"-h", []string{"-h"}, []string{"usage: warren <command>"}},
		{"help demo", []string{"help", "demo"}, []string{"usage: warren demo [flags]", "-topic", "-timeout"}},
		{"help call", []string{"help", "call"}, []string{"usage: warren call [flags] <topic> <method> [json-args]", "-server", "-namespace", "-version", "-exchange"}},
		{"help cast", []string{"help", "cast"}, []string{"usage: warren cast [flags] <topic> <method> [json-args]", "-fanout"}},
		{"help bench", []string{"help", "bench"}, []string{"usage: warren bench [flags]", "-n", "-c", "-size", "-servers", "-cast", "-timeout", "-topic"}},
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
	code, stdout, stderr := runWarren(t, "demo", "-h")
	if code != exitOK || stdout != "" || !strings.Contains(stderr, "usage: warren demo") {
		t.Errorf("warren demo -h = %d, stdout %q, stderr:\n%s\nwant 0, usage on stderr", code, stdout, stderr)
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

func TestCallAndCastNeedABroker(t *testing.T) {
	tests := []struct {
		name, url string
		args      []string
		want      string
	}{
		{"call without URL", "", []string{"call", "calculator", "add"},
			"warren: WARREN_TRANSPORT_URL is not set; call needs a broker\n"},
		{"cast without URL", "", []string{"cast", "-fanout", "calculator", "reset"},
			"warren: WARREN_TRANSPORT_URL is not set; cast needs a broker\n"},
		{"call on memory", "memory://", []string{"call", "calculator", "add", `{"a": 1, "b": 2}`},
			"warren: WARREN_TRANSPORT_URL names the in-process memory driver; call needs a broker\n"},
		{"cast with bad URL", "http://example.com/", []string{"cast", "calculator", "add"},
			"warren: WARREN_TRANSPORT_URL: "},
		{"demo with bad URL", "rabbit://h:notaport/", []string{"demo"},
			"warren: WARREN_TRANSPORT_URL: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WARREN_TRANSPORT_URL", tt.url)
			code, stdout, stderr := runWarren(t, tt.args...)
			if code != exitFailed {
				t.Errorf("warren %q = %d, want %d", tt.args, code, exitFailed)
			}
			if !strings.HasPrefix(stderr, tt.want) {
				t.Errorf("warren %q stderr = %q, want it to start with %q", tt.args, stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("warren %q printed on stdout: %q", tt.args, stdout)
			}
		})
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
		{"call", "-timeout", "1s", "calculator", "add"},
		{"cast", "-timeout", "1s", "calculator", "add"},
		{"demo", "-timeout", "1s"},
		{"bench", "-n", "1", "-timeout", "1s"},
	}
	for _, u := range urls {
		for _, args := range commands {
			t.Run(args[0]+" "+u, func(t *testing.T) {
				t.Setenv("WARREN_TRANSPORT_URL", u)
				code, stdout, stderr := runWarren(t, args...)
				if code != exitFailed {
					t.Errorf("warren %q = %d, want %d; stderr:\n%s", args, code, exitFailed, stderr)
				}
				if out := stdout + stderr; strings.Contains(out, "Xq7") || strings.Contains(out, "Zk9") {
					t.Errorf("warren %q with %s printed the password:\n%s", args, u, out)
				}
			})
		}
	}
}
