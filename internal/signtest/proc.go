package signtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds the wait for a server's "listening on" line.
const StartTimeout = 30 * time.Second

// StopTimeout bounds the wait for a server to exit after SIGTERM.
const StopTimeout = 10 * time.Second

// A Proc is a server process a test started.
type Proc struct {
	Cmd    *exec.Cmd
	Addr   string  // HOST:PORT, from its "listening on" line
	Stderr *Buffer // what it writes on standard error
	Stdout *Buffer // what it writes on standard output after its first line

	t    testing.TB
	done chan struct{}
	err  error // Wait's, once done is closed
}

// Start starts bin with args, waits (at most StartTimeout) for its first
// line of standard output to say "listening on HOST:PORT", and stops it
// when the test ends (see Stop). It fails the test if the process does not
// start or says something else first.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	p, err := TryStart(t, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TryStart is Start, with the failure to start returned (the process, if
// it started, is ended).
func TryStart(t testing.TB, bin string, args ...string) (*Proc, error) {
	cmd := exec.Command(bin, args...)
	p := &Proc{Cmd: cmd, Stderr: new(Buffer), Stdout: new(Buffer), t: t, done: make(chan struct{})}
	cmd.Stderr = p.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		// A Reader, not a Scanner, so that what follows the first line
		// stays for Stdout.
		if line, err := r.ReadString('\n'); err == nil || line != "" {
			lines <- strings.TrimRight(line, "\r\n")
		}
		close(lines)
		io.Copy(p.Stdout, r) // until the process exits
		// Wait only once the pipe is read to its end, as
		// exec.Cmd.StdoutPipe asks.
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.Stop)
	name := filepath.Base(bin)
	var line string
	select {
	case l, ok := <-lines:
		if !ok {
			<-p.done
			return nil, fmt.Errorf("%s exited before listening: %v\n%s", name, p.err, p.Stderr)
		}
		line = l
	case <-time.After(StartTimeout):
		p.Kill()
		return nil, fmt.Errorf("%s: no listening line in %v\n%s", name, StartTimeout, p.Stderr)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		p.Kill()
		return nil, fmt.Errorf("%s: first line %q, want \"listening on HOST:PORT\"\n%s", name, line, p.Stderr)
	}
	p.Addr = addr
	return p, nil
}

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (nil for status 0), once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Stop ends the process with SIGTERM, or SIGKILL after StopTimeout; a
// process that does not exit 0 on SIGTERM fails the test. A process that
// has exited already is left as it is. Start calls Stop when the test ends;
// if the test failed, Stop logs what the process wrote on standard error.
func (p *Proc) Stop() {
	name := filepath.Base(p.Cmd.Path)
	if p.t.Failed() {
		p.t.Logf("%s's standard error:\n%s", name, p.Stderr)
	}
	select {
	case <-p.done:
		return // killed, or exited by itself (which the test saw)
	default:
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			p.t.Errorf("%s on SIGTERM: %v\n%s", name, p.err, p.Stderr)
		}
	case <-time.After(StopTimeout):
		p.t.Errorf("%s did not exit %v after SIGTERM\n%s", name, StopTimeout, p.Stderr)
		p.Kill()
	}
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Proc) Kill() {
	p.Cmd.Process.Kill()
	<-p.done
}

// Buffer is an io.Writer that a test may read (String) while a process or
// a logger writes to it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
