package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand of warren.
type command struct {
	name    string
	summary string
	// run runs the command with the arguments after its name and returns
	// the exit code. Given -h it prints its usage to stderr and returns
	// exitOK.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands returns warren's subcommands in the order help lists them.
func commands() []command {
	return []command{
		{"demo", "run three calculator replicas and a client: call, cast, fanout cast, server-direct call, remote error, timeout", runDemo},
		{"call", "call a method on a topic and print its JSON result", runCall},
		{"cast", "cast a method to a topic, or to all its servers with --fanout", runCast},
		{"serve", "serve a topic with built-in methods (echo, add, divide, sleep, fail) until SIGINT or SIGTERM", runServe},
		{"ping", "check that a server of a topic answers, as a liveness or readiness probe", runPing},
		{"notify", "send a notification", runNotify},
		{"listen", "print notifications as JSON lines", runListen},
		{"bench", "measure calls (or casts) of echo per second and their latency: live servers of a topic, or replicas in this process", runBench},
		{"version", "print warren's version", runVersion},
	}
}

// run runs the warren command line args (without the program name) and
// returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return help(ctx, rest, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, rest, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "warren: unknown command %q\n\n", name)
	usage(stderr)
	return exitUsage
}

// usage lists the commands on w.
func usage(w io.Writer) {
	fmt.Fprint(w, "warren is the command-line tool of the warren RPC library.\n\nusage: warren <command> [arguments]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-8s %s\n", "help", "list the commands, or show one command's flags: warren help <command>")
	fmt.Fprint(w, `
call, cast, serve, ping, notify, listen and bench take --url (default
$WARREN_TRANSPORT_URL, else `+defaultURL+`)
and --exchange (default $WARREN_CONTROL_EXCHANGE, else openstack). demo, and
bench with replicas in this process, take them too, and run on the in-process
memory driver when no URL is given. Every command takes --help.

`+exitCodesHelp+`
`)
}

// help prints the command list, or with one argument that command's usage,
// on stdout.
func help(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		usage(stdout)
		return exitOK
	case 1:
		for _, c := range commands() {
			if c.name == args[0] {
				return c.run(ctx, []string{"-h"}, stdout, stdout)
			}
		}
		fmt.Fprintf(stderr, "warren help: unknown command %q\n\n", args[0])
	default:
		fmt.Fprintln(stderr, "warren help: too many arguments")
	}
	usage(stderr)
	return exitUsage
}

// newFlagSet returns a flag set for the command name whose usage shows
// synopsis (the arguments after the name) and description.
func newFlagSet(name, synopsis, description string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("warren "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: warren %s %s\n\n%s\n", name, synopsis, description)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprint(fs.Output(), "\nflags:\n")
			printFlags(fs)
		}
	}
	return fs
}

// printFlags lists the flags of fs on its output, each as --name, with
// its usage and any default that is not the zero value.
func printFlags(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		switch f.DefValue {
		case "", "0", "false", "0s":
		default:
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(fs.Output(), "%s\n    \t%s\n", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
	})
}

// parseFlags parses args into fs. When it returns false, the command ends
// with the exit code: exitOK for -h, exitUsage for a bad flag (fs has
// printed why).
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return exitOK, true
}

// usageError reports a bad command line for fs's command and returns
// exitUsage.
func usageError(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return exitUsage
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "", "Prints warren's version and the Go version it was built with.", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(fs, "unexpected argument %q", fs.Arg(0))
	}
	fmt.Fprintf(stdout, "warren %s %s\n", version(), runtime.Version())
	return exitOK
}

// version returns the module version warren was built from, with the VCS
// revision when the build recorded one.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " " + rev + modified
	}
	return v
}
