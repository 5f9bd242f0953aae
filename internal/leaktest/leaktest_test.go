//go:build linux

package leaktest

import (
	"os"
	"strings"
	"testing"
)

// fakeT records failures instead of failing, and runs cleanups on demand.
type fakeT struct {
	testing.TB
	failed   []string
	cleanups []func()
}

func (f *fakeT) Helper()                   {}
func (f *fakeT) Cleanup(fn func())         { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Errorf(s string, a ...any) { f.failed = append(f.failed, s) }
func (f *fakeT) Error(a ...any)            { f.failed = append(f.failed, "error") }
func (f *fakeT) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// A file left open is reported; one closed before the end is not.
func TestCheckFDs(t *testing.T) {
	for _, leave := range []bool{false, true} {
		ft := &fakeT{TB: t}
		CheckFDs(ft)
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		if !leave {
			f.Close()
		}
		ft.end()
		if got := len(ft.failed) > 0; got != leave {
			t.Errorf("file left open: %v; reported: %v %q", leave, got, ft.failed)
		}
		f.Close()
	}
}

// OpenFDs names what each fd is, and counts a new one.
func TestOpenFDs(t *testing.T) {
	n := CountFDs(t)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fds := OpenFDs(t)
	if len(fds) != n+1 || !strings.Contains(strings.Join(fds, " "), "->"+os.DevNull) {
		t.Errorf("%d fds before, after opening %s: %v", n, os.DevNull, fds)
	}
}

// Check reports a goroutine started during the test and still running at
// its end, and not one that has returned.
func TestCheckGoroutines(t *testing.T) {
	for _, leave := range []bool{false, true} {
		ft := &fakeT{TB: t}
		Check(ft)
		stop, stopped := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(stopped)
			<-stop
		}()
		if !leave {
			close(stop)
			<-stopped
		}
		ft.end()
		if got := len(ft.failed) > 0; got != leave {
			t.Errorf("goroutine left running: %v; reported: %v %q", leave, got, ft.failed)
		}
		if leave {
			close(stop)
			<-stopped
		}
	}
}
