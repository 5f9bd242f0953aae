package signtest

import (
	"errors"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

var listener struct {
	once sync.Once
	bin  string
	err  error
}

// listenerBin builds testdata/listener once per test binary.
func listenerBin(t *testing.T) string {
	t.Helper()
	listener.once.Do(func() {
		listener.bin, listener.err = Build(runDir, "listener", "./testdata/listener")
	})
	if errors.Is(listener.err, ErrNoGo) {
		t.Skip(listener.err)
	}
	if listener.err != nil {
		t.Fatal(listener.err)
	}
	return listener.bin
}

func TestBuildNoGo(t *testing.T) {
	t.Setenv("PATH", "")
	if _, err := Build(t.TempDir(), "x", "./testdata/listener"); !errors.Is(err, ErrNoGo) {
		t.Fatalf("Build with no go tool: %v, want ErrNoGo", err)
	}
}

func TestBuildFails(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool in PATH")
	}
	_, err := Build(t.TempDir(), "x", "./testdata/nosuchpackage")
	if err == nil || errors.Is(err, ErrNoGo) || !strings.Contains(err.Error(), "go build ./testdata/nosuchpackage") {
		t.Fatalf("Build of a missing package: %v", err)
	}
}

// Start reads the address from the listening line, and the server
// listens there; Stop ends it with SIGTERM, and it exits 0.
func TestStartStop(t *testing.T) {
	bin := listenerBin(t)
	p := Start(t, bin)
	conn, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatalf("dialing the address from the listening line, %q: %v", p.Addr, err)
	}
	conn.Close()
	if !strings.Contains(p.Stderr.String(), "listener starting") {
		t.Errorf("Stderr = %q, want what the process wrote", p.Stderr)
	}
	// What follows the listening line (asyncsignd's "metrics on") is
	// kept, though it came in the same read.
	for start := time.Now(); p.Stdout.String() != "then more\n"; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("Stdout = %q, want %q", p.Stdout, "then more\n")
		}
	}
	p.Stop()
	select {
	case <-p.Done():
	default:
		t.Fatal("the process runs after Stop")
	}
	if err := p.Err(); err != nil {
		t.Fatalf("exit on SIGTERM: %v", err)
	}
}

func TestKill(t *testing.T) {
	p := Start(t, listenerBin(t))
	p.Kill()
	var ee *exec.ExitError
	if err := p.Err(); !errors.As(err, &ee) || ee.ExitCode() != -1 {
		t.Fatalf("exit after Kill: %v, want a signal's", err)
	}
	p.Stop() // the cleanup's: nothing left to do, no failure
}

func TestTryStartFails(t *testing.T) {
	bin := listenerBin(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-first", "hello"}, `first line "hello", want "listening on HOST:PORT"`},
		{[]string{"-exit", "3"}, "exited before listening: exit status 3"},
	} {
		p, err := TryStart(t, bin, c.args...)
		if err == nil || p != nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("TryStart %q = %v, %v; want an error saying %q", c.args, p, err, c.want)
		}
		if err != nil && !strings.Contains(err.Error(), "listener starting") {
			t.Errorf("TryStart %q: %v; want the process's stderr in the error", c.args, err)
		}
	}
	if _, err := TryStart(t, "./testdata/nosuchbinary"); err == nil {
		t.Error("TryStart of a missing binary succeeded")
	}
}
