package wire

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependsOnlyOnMessage keeps the codec below the seam it serves: of
// warren's packages, internal/wire depends on the leaf package message
// only.
func TestDependsOnlyOnMessage(t *testing.T) {
	const module = "github.com/warrenrpc/warren"
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", module+"/internal/wire").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if (p == module || strings.HasPrefix(p, module+"/")) && p != module+"/internal/wire" && p != module+"/message" {
			t.Errorf("internal/wire depends on %s; it may depend on %s/message only", p, module)
		}
	}
}
