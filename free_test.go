package async_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/seed-e1024768/async"
)

// Fault: a cleanup that panicked inside Free stopped the older fds'
// cleanups, and a second Free did nothing, so those fds leaked.
func TestFreeRunsEveryCleanupWhenOnePanics(t *testing.T) {
	for _, panicking := range [][]int{{1}, {0}, {3}, {1, 2}, {0, 1, 2, 3}} {
		t.Run(fmt.Sprint(panicking), func(t *testing.T) {
			w := async.NewWaitCtx()
			called := make([]int, 4)
			for fd := range 4 {
				cleanup := func(*async.WaitCtx, any, int, any) { called[fd]++ }
				for _, p := range panicking {
					if p == fd {
						cleanup = func(*async.WaitCtx, any, int, any) {
							called[fd]++
							panic(fmt.Sprintf("cleanup %d", fd))
						}
					}
				}
				if err := w.SetWaitFD(fd, 100+fd, nil, cleanup); err != nil {
					t.Fatal(err)
				}
			}
			got := func() (v any) {
				defer func() { v = recover() }()
				w.Free()
				return nil
			}()
			if got == nil {
				t.Errorf("Free returned normally; want the cleanup's panic")
			}
			w.Free() // must not call anything again
			for fd, n := range called {
				if n != 1 {
					t.Errorf("cleanup of fd %d ran %d times; want once", 100+fd, n)
				}
			}
			if fds := w.AllFDs(); fds != nil {
				t.Errorf("AllFDs after Free = %v; want nil", fds)
			}
			if err := w.SetWaitFD("k", 1, nil, nil); err != async.ErrFreed {
				t.Errorf("SetWaitFD after Free = %v; want ErrFreed", err)
			}
		})
	}
}

// The same holds for a cleanup that calls runtime.Goexit.
func TestFreeRunsEveryCleanupWhenOneGoexits(t *testing.T) {
	w := async.NewWaitCtx()
	var called [3]int
	for fd := range 3 {
		w.SetWaitFD(fd, fd, nil, func(*async.WaitCtx, any, int, any) {
			called[fd]++
			if fd == 1 {
				runtime.Goexit()
			}
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Free()
	}()
	<-done
	if called != [3]int{1, 1, 1} {
		t.Errorf("cleanups ran %v times; want once each", called)
	}
}
