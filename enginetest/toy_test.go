package enginetest_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/engine"
	"github.com/seed-e1024768/async/enginetest"
)

// toy is the smallest engine built on package engine: its transport is a
// queue of Bound requests that one goroutine serves, waiting at a gate
// before each. It shows what a third engine writes, and that what package
// engine gives it is enough to keep the contract.
type toy struct {
	k    *engine.Waker
	gate enginetest.Gate
	mu   sync.RWMutex // orders submits against close
	shut bool
	q    chan *toyRequest
	wg   sync.WaitGroup

	// made and released count requests, for close to check that package
	// engine released each exactly once, whatever became of it.
	made, released atomic.Int64
}

type toyRequest struct {
	engine.Handoff
	t   *toy
	out int
}

func (r *toyRequest) Submit() (bool, error) {
	r.t.mu.RLock()
	defer r.t.mu.RUnlock()
	if r.t.shut {
		return false, context.Canceled // any error: the engine is closed
	}
	select {
	case r.t.q <- r:
		return true, nil
	default:
		return false, nil
	}
}

func (r *toyRequest) Release() {
	if r.t == nil {
		panic("toy request released twice")
	}
	r.t.released.Add(1)
	r.Reset()
	r.t = nil
}

func newToy(cfg enginetest.Config) (*toy, error) {
	t := &toy{q: make(chan *toyRequest, cfg.Bound)}
	k, err := engine.New(engine.Config{Key: t, Name: "toy", Notify: cfg.Notify, YieldEvery: 1})
	if err != nil {
		return nil, err
	}
	t.k = k
	t.wg.Add(1)
	go t.serve()
	return t, nil
}

// serve completes requests until close. A callback's Goexit ends it after
// Complete handed its request over: it starts another in its place.
func (t *toy) serve() {
	returned := false
	defer func() {
		if !returned {
			t.wg.Add(1)
			go t.serve()
		}
		t.wg.Done()
	}()
	for r := range t.q {
		t.gate.Wait()
		r.out = 42
		t.k.Complete(r)
	}
	returned = true
}

func (t *toy) op(ctx context.Context) error {
	r := &toyRequest{t: t}
	t.made.Add(1)
	if job := async.CurrentJob(ctx); job != nil {
		if err := t.k.Await(ctx, job, r); err != nil {
			return err
		}
	} else {
		if err := ctx.Err(); err != nil {
			r.Release()
			return err
		}
		r.Block()
		for {
			ok, err := r.Submit()
			if err != nil {
				r.Release()
				return err
			}
			if ok {
				break
			}
			// At the bound: give way and try again, until ctx is done.
			// (A real engine waits for room, as remote's waitSlot does.)
			if err := ctx.Err(); err != nil {
				r.Release()
				return err
			}
			runtime.Gosched()
		}
		if err := t.k.Wait(ctx, r); err != nil {
			return err
		}
	}
	engine.Free(r)
	return nil
}

func (t *toy) close() error {
	t.mu.Lock()
	if !t.shut {
		t.shut = true
		close(t.q)
	}
	t.mu.Unlock()
	t.wg.Wait()
	if made, released := t.made.Load(), t.released.Load(); made != released {
		return fmt.Errorf("toy: %d requests made, %d released", made, released)
	}
	return t.k.Lost()
}

// TestToyEngine runs the suite against the toy engine.
func TestToyEngine(t *testing.T) {
	enginetest.TestEngine(t, func(t *testing.T, cfg enginetest.Config) *enginetest.Engine {
		e, err := newToy(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return &enginetest.Engine{Op: e.op, Hold: e.gate.Hold, Close: e.close}
	})
}
