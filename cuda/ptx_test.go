package cuda

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPTXEntries checks that the checked-in kernels.ptx defines every
// kernel the cuda build launches (the driver would fail at
// cuModuleGetFunction otherwise). It needs no GPU and runs in every build.
func TestPTXEntries(t *testing.T) {
	ptx, err := os.ReadFile("kernels.ptx")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range kernelNames {
		if !bytes.Contains(ptx, []byte(".visible .entry "+name+"(")) {
			t.Errorf("kernels.ptx has no .entry %s; run make ptx", name)
		}
	}
	// Nothing may be left for the driver to link: we do not ship libdevice.
	if bytes.Contains(ptx, []byte(".extern")) {
		t.Errorf("kernels.ptx declares an .extern symbol (a libdevice call?); kernels.cu must be self-contained")
	}
}

// TestPTXRegenerates checks that kernels.ptx is what `make ptx` makes from
// kernels.cu, with the flags of the Makefile's PTXFLAGS line. It skips when
// clang-14 is not installed (apt-get install clang-14).
func TestPTXRegenerates(t *testing.T) {
	clang, err := exec.LookPath("clang-14")
	if err != nil {
		t.Skip("clang-14 not installed; cannot regenerate kernels.ptx")
	}
	flags := ptxFlags(t)
	out := filepath.Join(t.TempDir(), "kernels.ptx")
	cmd := exec.Command(clang, append(flags, "-o", out, "kernels.cu")...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, msg)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("kernels.ptx")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("kernels.ptx is stale: %s gives a different file (%d vs %d bytes); run make ptx", cmd, len(got), len(want))
	}
}

// ptxFlags reads the PTXFLAGS line of ../Makefile.
func ptxFlags(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "PTXFLAGS ="); ok {
			return strings.Fields(rest)
		}
	}
	t.Fatal("../Makefile has no PTXFLAGS = line")
	return nil
}
