package warren_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/warrenrpc/warren"

// goList runs go list with args in the module and returns its output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestPackageGraph keeps the arrows pointing down, as ./scripts/test also
// checks: the wire codec depends on no warren package but the leaf
// message, and no package outside examples/ imports one inside it (in its
// code or its tests).
func TestPackageGraph(t *testing.T) {
	for _, dep := range goList(t, "-deps", "-f", "{{.ImportPath}}", "./internal/wire") {
		switch {
		case !strings.HasPrefix(dep, module+"/"):
		case dep == module+"/internal/wire", dep == module+"/message":
		default:
			t.Errorf("internal/wire depends on %s; it may use only %s/message", dep, module)
		}
	}
	lines := goList(t, "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}{{range .TestImports}} {{.}}{{end}}{{range .XTestImports}} {{.}}{{end}}", "./...")
	for _, l := range lines {
		fields := strings.Fields(l)
		if len(fields) == 0 || isExample(fields[0]) {
			continue
		}
		reported := make(map[string]bool)
		for _, imp := range fields[1:] {
			if isExample(imp) && !reported[imp] {
				reported[imp] = true
				t.Errorf("%s imports %s: nothing outside examples/ may import an example", fields[0], imp)
			}
		}
	}
}

func isExample(path string) bool {
	return strings.HasPrefix(path, module+"/examples/")
}

// TestOpenTelemetryStaysOut: only otelwarren uses OpenTelemetry, and only
// its API; the SDK is for tests, examples and programs. A program that
// does not import otelwarren links no OpenTelemetry at all.
func TestOpenTelemetryStaysOut(t *testing.T) {
	lines := goList(t, "-deps", "-f", "{{.ImportPath}}", "./otelwarren")
	for _, dep := range lines {
		if strings.HasPrefix(dep, "go.opentelemetry.io/otel/sdk") || strings.Contains(dep, "/exporters/") {
			t.Errorf("otelwarren depends on %s: the library may use only the OpenTelemetry API", dep)
		}
	}
	for _, l := range goList(t, "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}", "./...") {
		fields := strings.Fields(l)
		pkg := fields[0]
		if pkg == module+"/otelwarren" || isExample(pkg) || strings.HasPrefix(pkg, module+"/cmd/") {
			continue
		}
		for _, dep := range fields[1:] {
			if strings.HasPrefix(dep, "go.opentelemetry.io/") || dep == module+"/otelwarren" {
				t.Errorf("%s depends on %s: OpenTelemetry belongs to otelwarren alone", pkg, dep)
				break
			}
		}
	}
}
