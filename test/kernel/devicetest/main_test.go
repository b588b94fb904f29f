package devicetest

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// EnvKernelTest must be "1" for the device tests to run.
const EnvKernelTest = "FACEVERIFY_KERNEL_TEST"

func inVM() bool { return os.Getenv(EnvKernelTest) == "1" }

func requireVM(t *testing.T) {
	t.Helper()
	if !inVM() {
		t.Skipf("device test: runs only inside the test-kernel VM (%s=1); run `make test-kernel`", EnvKernelTest)
	}
}

// metric prints a line the host script collects into its summary.
func metric(t *testing.T, format string, args ...any) {
	t.Helper()
	line := "METRIC " + fmt.Sprintf(format, args...)
	t.Log(line)
	fmt.Println(line)
}

func TestMain(m *testing.M) {
	if !inVM() {
		fmt.Printf("devicetest: skipped outside the test-kernel VM (%s unset); run `make test-kernel`\n", EnvKernelTest)
	} else if b, err := os.ReadFile("/proc/version"); err == nil {
		fmt.Println("devicetest: kernel", strings.TrimSpace(string(b)))
	}
	os.Exit(m.Run())
}
