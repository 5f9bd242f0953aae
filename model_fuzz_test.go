package async_test

// FuzzModel drives the real library with a random sequence of operations
// decoded from the fuzz input and checks every result against a small model
// of the rules in the man pages (ASYNC_start_job(3), ASYNC_WAIT_CTX_new(3)),
// the Go API contract and notes/decisions.md. The model is deliberately
// plain: a WaitCtx is a slice of entries in insertion order, a pool is five
// counters, and a job is its script plus a program counter.
//
// Where the contract leaves the choice between two errors open (two things
// are wrong at once), the model accepts either.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/internal/leaktest"
)

// ---------------------------------------------------------------------------
// Input decoding

type mfReader struct {
	data []byte
	i    int
}

// b returns the next byte, or 0 once the input is used up.
func (r *mfReader) b() byte {
	if r.i >= len(r.data) {
		r.i++
		return 0
	}
	c := r.data[r.i]
	r.i++
	return c
}

func (r *mfReader) done() bool { return r.i >= len(r.data) }

// Keys, chosen by index. 0, 5 and 6 are invalid (nil, an uncomparable type,
// a comparable type holding an uncomparable value); the others are distinct
// valid keys (int(1) and int8(1) are different keys).
type mfUncmp struct{ v any }

var mfKeys = []any{nil, 1, 2, 3, "k", []int{1}, mfUncmp{[]int{2}}, int8(1)}

var mfValidKeys = []int{1, 2, 3, 4, 7}

func mfKeyValid(k int) bool { return k != 0 && k != 5 && k != 6 }

// Main operations: op byte % 16.
const (
	mfOpW       = 0 // 0,1,2,14,15: WaitCtx op on a slot: slot byte, wop bytes
	mfOpStart   = 3 // 3,4,5: start (empty slot) or resume (paused slot)
	mfOpCancel  = 6
	mfOpStale   = 7
	mfOpClose   = 8
	mfOpFree    = 9
	mfOpRenew   = 10
	mfOpOutside = 11
	mfOpNilW    = 12
	mfOpBad     = 13
)

// WaitCtx operations: kind byte % 12.
const (
	mfWSet     = 0 // 0,1,2: key byte (bit 3: no cleanup), fd byte (%9, 8 = -1)
	mfWClear   = 3 // 3,4: key byte
	mfWFD      = 5 // key byte
	mfWAll     = 6 // variant byte
	mfWChanged = 7 // variant byte
	mfWSetCB   = 8 // fn byte (%4, 3 = nil), arg byte
	mfWCB      = 9
	mfWSetSt   = 10 // status byte (%6 - 1)
	mfWSt      = 11
)

type mfWop struct {
	kind    int
	key     int
	fd      int
	cleanup bool
	variant int
	fn, arg int
	status  int
}

func mfDecodeWop(r *mfReader) mfWop {
	switch k := r.b() % 12; k {
	case 0, 1, 2:
		kb, fb := r.b(), r.b()
		fd := int(fb % 9)
		if fd == 8 {
			fd = -1
		}
		return mfWop{kind: mfWSet, key: int(kb % 8), cleanup: kb&8 == 0, fd: fd}
	case 3, 4:
		return mfWop{kind: mfWClear, key: int(r.b() % 8)}
	case 5:
		return mfWop{kind: mfWFD, key: int(r.b() % 8)}
	case 6:
		return mfWop{kind: mfWAll, variant: int(r.b() % 3)}
	case 7:
		return mfWop{kind: mfWChanged, variant: int(r.b() % 3)}
	case 8:
		return mfWop{kind: mfWSetCB, fn: int(r.b() % 4), arg: int(r.b())}
	case 9:
		return mfWop{kind: mfWCB}
	case 10:
		return mfWop{kind: mfWSetSt, status: int(r.b()%6) - 1}
	default:
		return mfWop{kind: mfWSt}
	}
}

func (o mfWop) String() string {
	switch o.kind {
	case mfWSet:
		return fmt.Sprintf("SetWaitFD(key#%d, fd %d, cleanup %v)", o.key, o.fd, o.cleanup)
	case mfWClear:
		return fmt.Sprintf("ClearFD(key#%d)", o.key)
	case mfWFD:
		return fmt.Sprintf("FD(key#%d)", o.key)
	case mfWAll:
		return fmt.Sprintf("AllFDs(v%d)", o.variant)
	case mfWChanged:
		return fmt.Sprintf("ChangedFDs(v%d)", o.variant)
	case mfWSetCB:
		return fmt.Sprintf("SetCallback(fn#%d, %d)", o.fn, o.arg)
	case mfWCB:
		return "Callback()"
	case mfWSetSt:
		return fmt.Sprintf("SetStatus(%d)", o.status)
	default:
		return "Status()"
	}
}

// Job script steps: kind byte % 16.
const (
	mfSW      = 0 // 0,8,9,10,11: wop bytes follow
	mfSPause  = 1 // 1,12,14: PauseJob(ctx); 13: PauseJob(derived ctx)
	mfSBlock  = 2
	mfSUnblk  = 3
	mfSCheck  = 4 // 4,15
	mfSPanic  = 5 // panic value byte follows
	mfSGoexit = 6
	mfSFree   = 7 // Free the job's own WaitCtx
	mfSPauseD = 13
	mfSSelf   = 11 // StartJob and CancelJob on the job's own (running) handle
)

type mfStep struct {
	kind int
	w    mfWop
	pv   int
}

func mfDecodeStep(r *mfReader) mfStep {
	switch k := int(r.b() % 16); k {
	case 0, 8, 9, 10:
		return mfStep{kind: mfSW, w: mfDecodeWop(r)}
	case 11:
		return mfStep{kind: mfSSelf}
	case 1, 12, 14:
		return mfStep{kind: mfSPause}
	case 13:
		return mfStep{kind: mfSPauseD}
	case 4, 15:
		return mfStep{kind: mfSCheck}
	case 5:
		return mfStep{kind: mfSPanic, pv: int(r.b() % 3)}
	default:
		return mfStep{kind: k}
	}
}

func (s mfStep) String() string {
	switch s.kind {
	case mfSW:
		return s.w.String()
	case mfSPause:
		return "Pause"
	case mfSPauseD:
		return "Pause(derived ctx)"
	case mfSBlock:
		return "Block"
	case mfSUnblk:
		return "Unblock"
	case mfSCheck:
		return "Check"
	case mfSPanic:
		return fmt.Sprintf("Panic(%d)", s.pv)
	case mfSGoexit:
		return "Goexit"
	case mfSSelf:
		return "ResumeSelf"
	default:
		return "Free"
	}
}

// ---------------------------------------------------------------------------
// The model

type mfEntry struct {
	key, fd, data  int
	cleanup        bool
	added, deleted bool
}

type mfW struct {
	name    string
	real    *async.WaitCtx
	entries []*mfEntry // insertion order
	freed   bool
	cbSet   bool
	cbFn    int
	cbArg   int
	status  int
}

func (w *mfW) live(key int) *mfEntry {
	for _, e := range w.entries {
		if !e.deleted && e.key == key {
			return e
		}
	}
	return nil
}

// liveFDs: fds set now, newest first.
func (w *mfW) liveFDs() []int {
	var out []int
	for i := len(w.entries) - 1; i >= 0; i-- {
		if !w.entries[i].deleted {
			out = append(out, w.entries[i].fd)
		}
	}
	return out
}

// changed: fds added (still live) and deleted in this window, newest first.
func (w *mfW) changed() (add, del []int) {
	for i := len(w.entries) - 1; i >= 0; i-- {
		e := w.entries[i]
		switch {
		case e.deleted:
			del = append(del, e.fd)
		case e.added:
			add = append(add, e.fd)
		}
	}
	return add, del
}

// reset ends the window: a paused job of this WaitCtx was resumed.
func (w *mfW) reset() {
	if w.freed {
		return
	}
	var keep []*mfEntry
	for _, e := range w.entries {
		if e.deleted {
			continue
		}
		e.added = false
		keep = append(keep, e)
	}
	w.entries = keep
}

type mfPool struct {
	name                    string
	real                    *async.Pool
	max, size, idle, paused int
	started                 uint64
	closed                  bool
}

const (
	mfStarting = iota // Func not entered yet
	mfRunning
	mfPaused
	mfDone
	mfPanicked
)

var mfStateNames = []string{"starting", "running", "paused", "done", "panicked"}

type mfJob struct {
	id      int
	pool    *mfPool
	w       *mfW
	steps   []mfStep
	pc      int
	state   int
	block   int
	mode    int // 0 normal, 1 canceled, 2 closed: what every PauseJob now returns
	wake    int // what the pending PauseJob returns when woken (same coding)
	handle  *async.Job
	ctx     context.Context
	ret     int
	args    []byte // expected
	gotArgs []byte
	pval    any
	goexit  bool
}

type mfSlot struct {
	h    *async.Job // the handle variable passed to StartJob / CancelJob
	job  *mfJob     // the paused job held in h, or nil
	last *mfJob     // the last job of this slot that ended (stale handle, old ctx)
}

type mfCall struct {
	w    *async.WaitCtx
	key  any
	fd   int
	data any
}

// mfLenientFreed (env MF_LENIENT_FREED=1) accepts an argument error (bad
// key, fd or status) instead of ErrFreed from a freed WaitCtx. The contract
// says every method of a freed WaitCtx returns ErrFreed, so by default the
// model insists; the knob only lets fuzzing explore past that discrepancy.
var mfLenientFreed = os.Getenv("MF_LENIENT_FREED") != ""

type mfCtxKey struct{}
type mfCtxKey2 struct{}

var errMfBoom = errors.New("model fuzz: boom")

type mfModel struct {
	t      *testing.T
	mu     sync.Mutex
	failed bool
	trace  []string

	pools   [2]*mfPool
	wslots  [3]*mfW
	allW    []*mfW
	foreign *mfW // never given to a job: the "wrong" WaitCtx for resumes
	slots   [4]mfSlot
	log     []mfCall
	data    int
	jobs    int

	cleanupFn async.CleanupFunc
	cbFns     []async.CallbackFunc
	bogusFn   async.Func
}

func (m *mfModel) fail(format string, args ...any) {
	if m.failed {
		return
	}
	m.failed = true
	tr := m.trace
	if len(tr) > 60 {
		tr = append([]string{"..."}, tr[len(tr)-60:]...)
	}
	m.t.Errorf("model mismatch: "+format+"\noperations (last is the failing one):\n  %s",
		append(args, strings.Join(tr, "\n  "))...)
}

func (m *mfModel) tracef(format string, args ...any) {
	m.trace = append(m.trace, fmt.Sprintf(format, args...))
}

// checkErr: want empty means err must be nil; else err must match one of want.
func (m *mfModel) checkErr(where string, err error, want []error) bool {
	if len(want) == 0 {
		if err != nil {
			m.fail("%s: got error %v, want nil", where, err)
			return false
		}
		return true
	}
	for _, w := range want {
		if errors.Is(err, w) {
			return true
		}
	}
	m.fail("%s: got error %v, want one of %v", where, err, want)
	return false
}

func mfEqInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func newMfModel(t *testing.T) *mfModel {
	m := &mfModel{t: t}
	m.cleanupFn = func(w *async.WaitCtx, key any, fd int, data any) {
		// Called by Free on the goroutine calling Free, which holds m.mu.
		m.log = append(m.log, mfCall{w, key, fd, data})
	}
	for k := 0; k < 3; k++ {
		k := k
		m.cbFns = append(m.cbFns, func(arg any) int {
			a, _ := arg.(int)
			return 1000*(k+1) + a
		})
	}
	m.bogusFn = func(context.Context, []byte) int {
		t.Error("model mismatch: the Func passed to a resume or a failing StartJob was called")
		return -1
	}
	return m
}

func (m *mfModel) newW(zero bool) *mfW {
	w := &mfW{name: fmt.Sprintf("w%d", len(m.allW))}
	if zero {
		w.real = new(async.WaitCtx)
		w.name += "(zero)"
	} else {
		w.real = async.NewWaitCtx()
	}
	m.allW = append(m.allW, w)
	return w
}

// ---------------------------------------------------------------------------
// WaitCtx operations (used from the test goroutine and from inside jobs)

func (m *mfModel) applyWop(w *mfW, op mfWop, where string) {
	where = where + " " + w.name + "." + op.String()
	rw := w.real
	switch op.kind {
	case mfWSet:
		m.data++
		data := m.data
		var cl async.CleanupFunc
		if op.cleanup {
			cl = m.cleanupFn
		}
		err := rw.SetWaitFD(mfKeys[op.key], op.fd, data, cl)
		var want []error
		if w.freed {
			want = []error{async.ErrFreed}
		}
		if !w.freed || mfLenientFreed {
			if !mfKeyValid(op.key) {
				want = append(want, async.ErrInvalidKey)
			}
			if op.fd < 0 {
				want = append(want, async.ErrBadFD)
			}
			if !w.freed && mfKeyValid(op.key) && w.live(op.key) != nil {
				want = append(want, async.ErrKeyExists)
			}
		}
		m.checkErr(where, err, want)
		if len(want) == 0 {
			w.entries = append(w.entries, &mfEntry{key: op.key, fd: op.fd, data: data, cleanup: op.cleanup, added: true})
		}

	case mfWClear:
		err := rw.ClearFD(mfKeys[op.key])
		var want []error
		var e *mfEntry
		switch {
		case w.freed:
			want = []error{async.ErrFreed}
			if mfLenientFreed && !mfKeyValid(op.key) {
				want = append(want, async.ErrInvalidKey)
			}
		case !mfKeyValid(op.key):
			want = []error{async.ErrInvalidKey}
		default:
			if e = w.live(op.key); e == nil {
				want = []error{async.ErrNoFD}
			}
		}
		m.checkErr(where, err, want)
		if e != nil {
			if e.added {
				for i, x := range w.entries {
					if x == e {
						w.entries = append(w.entries[:i:i], w.entries[i+1:]...)
						break
					}
				}
			} else {
				e.deleted = true
			}
		}

	case mfWFD:
		fd, data, ok := rw.FD(mfKeys[op.key])
		var e *mfEntry
		if !w.freed && mfKeyValid(op.key) {
			e = w.live(op.key)
		}
		if e == nil {
			if fd != 0 || data != nil || ok {
				m.fail("%s = %d, %v, %v; want 0, nil, false", where, fd, data, ok)
			}
		} else if fd != e.fd || data != any(e.data) || !ok {
			m.fail("%s = %d, %v, %v; want %d, %d, true", where, fd, data, ok, e.fd, e.data)
		}

	case mfWAll:
		var got []int
		var prefix []int
		switch op.variant {
		case 0:
			got = rw.AllFDs()
		case 1:
			got = rw.AppendAllFDs(nil)
		default:
			dst := make([]int, 1, 8)
			dst[0] = -7
			prefix = []int{-7}
			got = rw.AppendAllFDs(dst)
		}
		want := append(append([]int(nil), prefix...), w.liveFDs()...)
		if !mfEqInts(got, want) {
			m.fail("%s = %v, want %v", where, got, want)
		} else if w.freed && op.variant == 0 && got != nil {
			m.fail("%s on a freed WaitCtx = %#v, want nil", where, got)
		}

	case mfWChanged:
		var ga, gd []int
		var pa, pd []int
		switch op.variant {
		case 0:
			ga, gd = rw.ChangedFDs()
		case 1:
			ga, gd = rw.AppendChangedFDs(nil, nil)
		default:
			a := make([]int, 1, 8)
			a[0] = -7
			d := make([]int, 2, 3)
			d[0], d[1] = -8, -9
			pa, pd = []int{-7}, []int{-8, -9}
			ga, gd = rw.AppendChangedFDs(a, d)
		}
		wa, wd := w.changed()
		wa = append(append([]int(nil), pa...), wa...)
		wd = append(append([]int(nil), pd...), wd...)
		if !mfEqInts(ga, wa) || !mfEqInts(gd, wd) {
			m.fail("%s = added %v deleted %v; want added %v deleted %v", where, ga, gd, wa, wd)
		} else if op.variant == 0 && ((len(wa) == 0 && ga != nil) || (len(wd) == 0 && gd != nil)) {
			m.fail("%s = %#v, %#v; want nil for an empty list", where, ga, gd)
		}

	case mfWSetCB:
		var fn async.CallbackFunc
		if op.fn < 3 {
			fn = m.cbFns[op.fn]
		}
		err := rw.SetCallback(fn, op.arg)
		var want []error
		if w.freed {
			want = []error{async.ErrFreed}
		}
		m.checkErr(where, err, want)
		if !w.freed {
			w.cbSet = fn != nil
			w.cbFn, w.cbArg = op.fn, op.arg
		}

	case mfWCB:
		m.checkCallback(w, where)

	case mfWSetSt:
		err := rw.SetStatus(async.EngineStatus(op.status))
		var want []error
		switch {
		case w.freed:
			want = []error{async.ErrFreed}
			if mfLenientFreed && (op.status < 0 || op.status > 3) {
				want = append(want, async.ErrBadStatus)
			}
		case op.status < 0 || op.status > 3:
			want = []error{async.ErrBadStatus}
		}
		m.checkErr(where, err, want)
		if len(want) == 0 {
			w.status = op.status
		}

	case mfWSt:
		if got := rw.Status(); int(got) != w.status {
			m.fail("%s = %v, want %v", where, got, async.EngineStatus(w.status))
		}
	}
}

func (m *mfModel) checkCallback(w *mfW, where string) {
	fn, arg, ok := w.real.Callback()
	if !w.cbSet {
		if ok || fn != nil || (w.freed && arg != nil) {
			m.fail("%s: Callback() = fn set %v, %v, %v; want nil, _, false", where, fn != nil, arg, ok)
		}
		return
	}
	if !ok || fn == nil || arg != any(w.cbArg) {
		m.fail("%s: Callback() = fn set %v, %v, %v; want fn#%d, %d, true", where, fn != nil, arg, ok, w.cbFn, w.cbArg)
		return
	}
	if got, want := fn(arg), 1000*(w.cbFn+1)+w.cbArg; got != want {
		m.fail("%s: Callback() returned the wrong function: fn(arg) = %d, want %d", where, got, want)
	}
}

// freeW frees w and checks its cleanups: every fd still set, exactly once,
// newest first, with (w, key, fd, data); never those cleared with ClearFD.
func (m *mfModel) freeW(w *mfW, where string) {
	where = where + " " + w.name + ".Free()"
	if len(m.log) != 0 {
		m.fail("%s: cleanups %v were called outside Free", where, m.log)
	}
	m.log = nil
	var want []mfCall
	if !w.freed {
		for i := len(w.entries) - 1; i >= 0; i-- {
			e := w.entries[i]
			if !e.deleted && e.cleanup {
				want = append(want, mfCall{w.real, mfKeys[e.key], e.fd, e.data})
			}
		}
	}
	w.real.Free()
	got := m.log
	m.log = nil
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, x := got[i], want[i]
		ok = g.w == x.w && g.key == x.key && g.fd == x.fd && g.data == x.data
	}
	if !ok {
		m.fail("%s: cleanups called %s, want %s", where, mfCalls(got), mfCalls(want))
	}
	w.freed = true
	w.entries = nil
	w.cbSet = false
	w.status = 0
}

func mfCalls(cs []mfCall) string {
	var b strings.Builder
	b.WriteString("[")
	for i, c := range cs {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "(key %v fd %d data %v)", c.key, c.fd, c.data)
	}
	b.WriteString("]")
	return b.String()
}

// checkW compares everything readable of w with the model (reads change nothing).
func (m *mfModel) checkW(w *mfW, where string) {
	rw := w.real
	all := rw.AllFDs()
	if want := w.liveFDs(); !mfEqInts(all, want) || (w.freed && all != nil) {
		m.fail("%s: %s.AllFDs() = %#v, want %v", where, w.name, all, want)
	}
	ga, gd := rw.ChangedFDs()
	wa, wd := w.changed()
	if !mfEqInts(ga, wa) || !mfEqInts(gd, wd) || (wa == nil) != (ga == nil) || (wd == nil) != (gd == nil) {
		m.fail("%s: %s.ChangedFDs() = added %#v deleted %#v; want added %#v deleted %#v", where, w.name, ga, gd, wa, wd)
	}
	if got := rw.Status(); int(got) != w.status {
		m.fail("%s: %s.Status() = %v, want %v", where, w.name, got, async.EngineStatus(w.status))
	}
	m.checkCallback(w, where+" "+w.name)
	for _, k := range mfValidKeys {
		fd, data, ok := rw.FD(mfKeys[k])
		e := w.live(k)
		if e == nil {
			if fd != 0 || data != nil || ok {
				m.fail("%s: %s.FD(key#%d) = %d, %v, %v; want 0, nil, false", where, w.name, k, fd, data, ok)
			}
		} else if fd != e.fd || data != any(e.data) || !ok {
			m.fail("%s: %s.FD(key#%d) = %d, %v, %v; want %d, %d, true", where, w.name, k, fd, data, ok, e.fd, e.data)
		}
	}
}

func (m *mfModel) checkPool(p *mfPool, where string) {
	s := p.real.Stats()
	if s.Max != p.max || s.Size != p.size || s.Idle != p.idle || s.Paused != p.paused || s.Started != p.started {
		m.fail("%s: pool %s Stats() = %+v, want {Max:%d Size:%d Idle:%d Paused:%d Started:%d}",
			where, p.name, s, p.max, p.size, p.idle, p.paused, p.started)
	}
}

func (m *mfModel) checkAll(where string) {
	if len(m.log) != 0 {
		m.fail("%s: cleanups %s were called outside Free", where, mfCalls(m.log))
		m.log = nil
	}
	for _, w := range m.allW {
		m.checkW(w, where)
	}
	for _, p := range m.pools {
		m.checkPool(p, where)
	}
	for i := range m.slots {
		s := &m.slots[i]
		if s.job == nil {
			if s.h != nil {
				m.fail("%s: slot %d handle %p, want nil", where, i, s.h)
			}
			continue
		}
		if s.job.state != mfPaused {
			m.fail("%s: slot %d job is %s, want paused", where, i, mfStateNames[s.job.state])
		}
		if s.h == nil || s.h != s.job.handle {
			m.fail("%s: slot %d handle %p, want %p", where, i, s.h, s.job.handle)
		} else if got := s.h.WaitCtx(); got != s.job.w.real {
			m.fail("%s: slot %d Job.WaitCtx() = %p, want %s %p", where, i, got, s.job.w.name, s.job.w.real)
		}
	}
	if async.CurrentJob(context.Background()) != nil {
		m.fail("%s: CurrentJob(Background) != nil", where)
	}
}

// ---------------------------------------------------------------------------
// Jobs

func mfModeErr(mode int) error {
	switch mode {
	case 1:
		return async.ErrCanceled
	case 2:
		return async.ErrClosed
	}
	return nil
}

// makeFunc returns the Func of job j: it runs j's script, applying each step
// to the library and to the model. It holds m.mu except inside PauseJob.
func (m *mfModel) makeFunc(j *mfJob) async.Func {
	return func(ctx context.Context, args []byte) int {
		m.mu.Lock()
		where := fmt.Sprintf("job%d", j.id)
		if j.state != mfStarting {
			m.fail("%s: Func entered in state %s", where, mfStateNames[j.state])
		}
		j.state = mfRunning
		cur := async.CurrentJob(ctx)
		if cur == nil {
			m.fail("%s: CurrentJob(ctx) = nil inside the job", where)
		}
		j.handle, j.ctx, j.gotArgs = cur, ctx, args
		if v := ctx.Value(mfCtxKey{}); v != any(j.id) {
			m.fail("%s: ctx.Value of the StartJob context = %v, want %d", where, v, j.id)
		}
		if !bytes.Equal(args, j.args) {
			m.fail("%s: args = %v, want %v", where, args, j.args)
		}
		if cur != nil && cur.WaitCtx() != j.w.real {
			m.fail("%s: CurrentJob(ctx).WaitCtx() = %p, want %s", where, cur.WaitCtx(), j.w.name)
		}
		for j.pc < len(j.steps) {
			st := j.steps[j.pc]
			j.pc++
			sw := fmt.Sprintf("job%d step %d", j.id, j.pc-1)
			switch st.kind {
			case mfSW:
				m.applyWop(j.w, st.w, sw)
			case mfSPause:
				m.jobPause(ctx, j, sw)
			case mfSPauseD:
				m.jobPause(context.WithValue(ctx, mfCtxKey2{}, 1), j, sw+" (derived ctx)")
			case mfSBlock:
				async.BlockPause(ctx)
				j.block++
			case mfSUnblk:
				async.UnblockPause(ctx)
				if j.block > 0 {
					j.block--
				}
			case mfSCheck:
				if got := async.CurrentJob(ctx); got != j.handle {
					m.fail("%s: CurrentJob(ctx) = %p, want %p", sw, got, j.handle)
				}
				if got := async.CurrentJob(context.WithValue(ctx, mfCtxKey2{}, 2)); got != j.handle {
					m.fail("%s: CurrentJob(derived ctx) = %p, want %p", sw, got, j.handle)
				}
				if async.CurrentJob(context.Background()) != nil {
					m.fail("%s: CurrentJob(Background) != nil inside a job", sw)
				}
				if !bytes.Equal(j.gotArgs, j.args) {
					m.fail("%s: the job's args changed to %v, want %v (not a copy?)", sw, j.gotArgs, j.args)
				}
			case mfSPanic, mfSGoexit:
				if j.mode != 0 {
					continue // unwinding after CancelJob / Close: no panics
				}
				j.state = mfPanicked
				if st.kind == mfSGoexit {
					j.goexit = true
					m.mu.Unlock()
					runtime.Goexit()
				}
				switch st.pv {
				case 0:
					j.pval = fmt.Sprintf("model fuzz panic %d", j.id)
				case 1:
					j.pval = errMfBoom
				default:
					j.pval = j.id
				}
				m.mu.Unlock()
				panic(j.pval)
			case mfSFree:
				m.freeW(j.w, sw)
			case mfSSelf:
				// The job is running: resuming or canceling it must fail.
				h1, h2 := j.handle, j.handle
				m.mu.Unlock()
				st, _, err1 := j.pool.real.StartJob(context.Background(), &h1, nil, m.bogusFn, nil)
				_, err2 := j.pool.real.CancelJob(&h2)
				m.mu.Lock()
				if st != async.Err {
					m.fail("%s: StartJob(own running handle) = %v, want Err", sw, st)
				}
				m.checkErr(sw+": StartJob(own running handle)", err1, []error{async.ErrRunning})
				m.checkErr(sw+": CancelJob(own running handle)", err2, []error{async.ErrRunning})
				if h1 != j.handle || h2 != j.handle {
					m.fail("%s: failed resume/cancel changed the handle", sw)
				}
			}
		}
		j.state = mfDone
		ret := j.ret
		m.mu.Unlock()
		return ret
	}
}

func (m *mfModel) jobPause(ctx context.Context, j *mfJob, where string) {
	where += " PauseJob"
	if j.mode != 0 || j.block > 0 {
		// Must return at once: canceled/closed, or pausing blocked.
		m.mu.Unlock()
		err := async.PauseJob(ctx)
		m.mu.Lock()
		if j.state != mfRunning {
			m.fail("%s: job in state %s after a PauseJob that must not pause", where, mfStateNames[j.state])
		}
		switch {
		case j.mode == 0:
			m.checkErr(where+" (blocked)", err, nil)
		case j.block == 0:
			m.checkErr(where, err, []error{mfModeErr(j.mode)})
		default: // blocked and canceled/closed: contract leaves the order open
			if err != nil {
				m.checkErr(where+" (blocked)", err, []error{mfModeErr(j.mode)})
			}
		}
		return
	}
	j.state = mfPaused
	m.mu.Unlock()
	err := async.PauseJob(ctx)
	m.mu.Lock()
	if j.state != mfRunning {
		m.fail("%s returned but the job was not resumed (state %s)", where, mfStateNames[j.state])
		return
	}
	if e := mfModeErr(j.wake); e == nil {
		m.checkErr(where+" after resume", err, nil)
	} else {
		m.checkErr(where+" after resume", err, []error{e})
	}
}

func (m *mfModel) other(p *mfPool) *mfPool {
	if p == m.pools[0] {
		return m.pools[1]
	}
	return m.pools[0]
}

func (m *mfModel) busy(w *mfW) bool {
	for i := range m.slots {
		if j := m.slots[i].job; j != nil && j.w == w {
			return true
		}
	}
	return false
}

// settle checks what StartJob reported after the job ran (start or resume).
func (m *mfModel) settle(where string, si int, j *mfJob, st async.Status, ret int, err error) {
	s := &m.slots[si]
	p := j.pool
	m.tracef("  -> %v, %d, %v", st, ret, err)
	switch j.state {
	case mfPaused:
		if st != async.Pause || err != nil || s.h == nil || s.h != j.handle {
			m.fail("%s = %v, %d, %v, handle %p; want Pause, handle %p (CurrentJob in the job)", where, st, ret, err, s.h, j.handle)
		}
		p.paused++
		s.job = j
	case mfDone:
		if st != async.Finish || err != nil || ret != j.ret || s.h != nil {
			m.fail("%s = %v, %d, %v, handle %p; want Finish, %d, nil, nil handle", where, st, ret, err, s.h, j.ret)
		}
		p.idle++
		s.job, s.last, s.h = nil, j, nil
	case mfPanicked:
		var pe *async.PanicError
		switch {
		case st != async.Err || !errors.As(err, &pe) || s.h != nil:
			m.fail("%s = %v, %d, %v, handle %p; want Err, *PanicError, nil handle", where, st, ret, err, s.h)
		case j.goexit && (pe.Value != any(async.ErrGoexit) || !errors.Is(err, async.ErrGoexit)):
			m.fail("%s: PanicError.Value = %v, want ErrGoexit", where, pe.Value)
		case !j.goexit && pe.Value != j.pval:
			m.fail("%s: PanicError.Value = %v, want %v", where, pe.Value, j.pval)
		case !j.goexit && j.pval == any(errMfBoom) && !errors.Is(err, errMfBoom):
			m.fail("%s: errors.Is(err, panic value) = false", where)
		case len(pe.Stack) == 0:
			m.fail("%s: PanicError.Stack is empty", where)
		}
		p.size--
		s.job, s.last, s.h = nil, j, nil
	default:
		m.fail("%s = %v, %d, %v, but the job's Func is %s (step %d of %d)", where, st, ret, err,
			mfStateNames[j.state], j.pc, len(j.steps))
		s.job, s.h = nil, nil
	}
}

func (m *mfModel) opStart(r *mfReader) {
	si := int(r.b() % 4)
	s := &m.slots[si]
	if s.job != nil {
		m.opResume(r, si)
		return
	}
	cfg := r.b()
	p := m.pools[cfg&1]
	w := m.wslots[(cfg>>1)%3]
	ret := int(int8(r.b()))
	args := make([]byte, r.b()%4)
	for i := range args {
		args[i] = r.b()
	}
	steps := make([]mfStep, r.b()%10)
	for i := range steps {
		steps[i] = mfDecodeStep(r)
	}

	expect := func() (want []error, noJobs bool) {
		if p.closed {
			want = append(want, async.ErrClosed)
		}
		if w.freed {
			want = append(want, async.ErrFreed)
		}
		noJobs = len(want) == 0 && p.max > 0 && p.idle == 0 && p.size >= p.max
		return
	}
	want, noJobs := expect()
	if len(want) == 0 && !noJobs && m.busy(w) {
		// One job per WaitCtx at a time (ASYNC_WAIT_CTX_new(3)).
		w = nil
		for _, c := range m.wslots {
			if !m.busy(c) {
				w = c
				break
			}
		}
		if w == nil {
			m.tracef("start slot %d: skipped, every WaitCtx is in use", si)
			return
		}
		want, noJobs = expect()
	}

	m.jobs++
	j := &mfJob{id: m.jobs, pool: p, w: w, steps: steps, ret: ret, args: append([]byte(nil), args...)}
	var sts []string
	for _, x := range steps {
		sts = append(sts, x.String())
	}
	m.tracef("start job%d slot %d pool %s %s ret %d args %v script [%s]", j.id, si, p.name, w.name, ret, args, strings.Join(sts, "; "))
	where := fmt.Sprintf("StartJob(new job%d)", j.id)
	ctx := context.WithValue(context.Background(), mfCtxKey{}, j.id)

	if len(want) > 0 || noJobs {
		m.mu.Unlock()
		st, ret, err := p.real.StartJob(ctx, &s.h, w.real, m.bogusFnFor(j), args)
		m.mu.Lock()
		m.tracef("  -> %v, %d, %v", st, ret, err)
		if noJobs {
			if st != async.NoJobs || err != nil || s.h != nil {
				m.fail("%s on a full pool = %v, %d, %v, handle %p; want NoJobs, nil error, nil handle", where, st, ret, err, s.h)
			}
		} else {
			if st != async.Err {
				m.fail("%s = %v, want Err", where, st)
			}
			m.checkErr(where, err, want)
			if s.h != nil {
				m.fail("%s: handle %p after Err, want nil", where, s.h)
			}
		}
		s.h = nil
		return
	}

	if p.idle > 0 {
		p.idle--
	} else {
		p.size++
	}
	p.started++
	fn := m.makeFunc(j)
	m.mu.Unlock()
	st, ret, err := p.real.StartJob(ctx, &s.h, w.real, fn, args)
	m.mu.Lock()
	for i := range args {
		args[i] ^= 0xff // the job must have its own copy
	}
	m.settle(where, si, j, st, ret, err)
}

// bogusFnFor is the Func given to a StartJob that must not run it.
func (m *mfModel) bogusFnFor(*mfJob) async.Func { return m.bogusFn }

func (m *mfModel) opResume(r *mfReader, si int) {
	s := &m.slots[si]
	j := s.job
	cfg := r.b()
	p := j.pool
	if cfg&3 == 3 {
		p = m.other(p)
	}
	var wa *async.WaitCtx
	wname := "nil"
	switch (cfg >> 2) & 3 {
	case 1, 3:
		wa, wname = j.w.real, j.w.name
	case 2:
		wa, wname = m.foreign.real, "foreign"
	}
	nilFn := cfg&16 != 0
	inGo := cfg&32 != 0
	m.tracef("resume job%d slot %d via pool %s wctx %s nilFn %v goroutine %v", j.id, si, p.name, wname, nilFn, inGo)
	where := fmt.Sprintf("StartJob(resume job%d)", j.id)

	var want []error
	if p != j.pool {
		want = append(want, async.ErrWrongPool)
		if p.closed {
			want = append(want, async.ErrClosed)
		}
	}
	if wa != nil && wa != j.w.real {
		want = append(want, async.ErrWrongWaitCtx)
	}
	if j.w.freed {
		want = append(want, async.ErrFreed)
	}

	ctx, fn := context.Background(), m.bogusFn
	if nilFn {
		ctx, fn = nil, nil
	}
	call := func() (st async.Status, ret int, err error) {
		m.mu.Unlock()
		defer m.mu.Lock()
		if !inGo {
			return p.real.StartJob(ctx, &s.h, wa, fn, []byte("ignored"))
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			st, ret, err = p.real.StartJob(ctx, &s.h, wa, fn, []byte("ignored"))
		}()
		<-done
		return
	}

	if len(want) > 0 {
		st, _, err := call()
		m.tracef("  -> %v, %v", st, err)
		if st != async.Err {
			m.fail("%s = %v, want Err", where, st)
		}
		m.checkErr(where, err, want)
		if s.h != j.handle {
			m.fail("%s: handle changed to %p by a failed resume, want %p", where, s.h, j.handle)
			s.h = j.handle
		}
		return
	}
	j.w.reset()
	j.state, j.wake = mfRunning, 0
	j.pool.paused--
	st, ret, err := call()
	m.settle(where, si, j, st, ret, err)
}

func (m *mfModel) opCancel(r *mfReader) {
	si := int(r.b() % 4)
	cfg := r.b()
	s := &m.slots[si]
	if cfg&4 != 0 || s.job == nil {
		p := m.pools[cfg&1]
		want := []error{async.ErrNilJob}
		if p.closed {
			want = append(want, async.ErrClosed)
		}
		if cfg&4 != 0 {
			m.tracef("CancelJob(nil) pool %s", p.name)
			m.mu.Unlock()
			_, err := p.real.CancelJob(nil)
			m.mu.Lock()
			m.checkErr("CancelJob(nil)", err, want)
			return
		}
		m.tracef("CancelJob(&nil handle) pool %s", p.name)
		var h *async.Job
		m.mu.Unlock()
		_, err := p.real.CancelJob(&h)
		m.mu.Lock()
		m.checkErr("CancelJob(&nil)", err, append(want, async.ErrNotPaused))
		return
	}
	j := s.job
	p := j.pool
	if cfg&3 == 3 {
		p = m.other(p)
	}
	m.tracef("CancelJob job%d slot %d via pool %s", j.id, si, p.name)
	where := fmt.Sprintf("CancelJob(job%d)", j.id)
	if p != j.pool {
		want := []error{async.ErrWrongPool}
		if p.closed {
			want = append(want, async.ErrClosed)
		}
		m.mu.Unlock()
		_, err := p.real.CancelJob(&s.h)
		m.mu.Lock()
		m.checkErr(where, err, want)
		if s.h != j.handle {
			m.fail("%s: handle changed to %p by a failed cancel, want %p", where, s.h, j.handle)
			s.h = j.handle
		}
		return
	}
	j.mode, j.wake = 1, 1
	j.w.reset()
	j.state = mfRunning
	p.paused--
	m.mu.Unlock()
	ret, err := p.real.CancelJob(&s.h)
	m.mu.Lock()
	if j.state != mfDone || err != nil || ret != j.ret || s.h != nil {
		m.fail("%s = %d, %v, handle %p, job %s; want %d, nil, nil handle, job done", where, ret, err, s.h,
			mfStateNames[j.state], j.ret)
	}
	p.idle++
	s.job, s.last, s.h = nil, j, nil
}

func (m *mfModel) opStale(r *mfReader) {
	si := int(r.b() % 4)
	cfg := r.b()
	s := &m.slots[si]
	if s.last == nil || s.last.handle == nil {
		return
	}
	h := s.last.handle
	for i := range m.slots {
		if m.slots[i].job != nil && m.slots[i].job.handle == h {
			return // the pool reused this Job for a job that is paused now
		}
	}
	jp := s.last.pool
	p := jp
	if cfg&6 == 6 {
		p = m.other(p)
	}
	want := []error{async.ErrNotPaused}
	if p != jp {
		want = append(want, async.ErrWrongPool)
	}
	if p.closed || jp.closed {
		want = append(want, async.ErrClosed)
	}
	x := h
	if cfg&1 != 0 {
		m.tracef("CancelJob(stale handle of job%d) via pool %s", s.last.id, p.name)
		m.mu.Unlock()
		_, err := p.real.CancelJob(&x)
		m.mu.Lock()
		m.checkErr("CancelJob(stale handle)", err, want)
	} else {
		m.tracef("StartJob(stale handle of job%d) via pool %s", s.last.id, p.name)
		m.mu.Unlock()
		st, _, err := p.real.StartJob(context.Background(), &x, nil, m.bogusFn, nil)
		m.mu.Lock()
		if st != async.Err {
			m.fail("StartJob(stale handle) = %v, want Err", st)
		}
		m.checkErr("StartJob(stale handle)", err, want)
	}
}

func (m *mfModel) opClose(p *mfPool) {
	m.tracef("Close pool %s", p.name)
	var js []*mfJob
	for i := range m.slots {
		if j := m.slots[i].job; j != nil && j.pool == p {
			j.mode, j.wake = 2, 2
			j.w.reset()
			j.state = mfRunning
			p.paused--
			js = append(js, j)
		}
	}
	m.mu.Unlock()
	err := p.real.Close()
	m.mu.Lock()
	where := "Close pool " + p.name
	if len(js) > 0 {
		if !errors.Is(err, async.ErrJobsOutstanding) {
			m.fail("%s with %d paused jobs = %v, want ErrJobsOutstanding", where, len(js), err)
		} else if !strings.Contains(err.Error(), strconv.Itoa(len(js))) {
			m.fail("%s: error %q does not say how many jobs (%d)", where, err, len(js))
		}
	} else if err != nil {
		m.fail("%s with no paused jobs = %v, want nil", where, err)
	}
	for i := range m.slots {
		s := &m.slots[i]
		if j := s.job; j != nil && j.pool == p {
			if j.state != mfDone {
				m.fail("%s: job%d is %s after Close, want done", where, j.id, mfStateNames[j.state])
			}
			s.job, s.last, s.h = nil, j, nil
		}
	}
	p.size, p.idle, p.paused = 0, 0, 0
	p.closed = true
}

func (m *mfModel) opOutside(r *mfReader) {
	b := r.b()
	m.tracef("outside-job calls %d", b)
	bg := context.Background()
	async.BlockPause(bg)
	async.UnblockPause(bg)
	async.UnblockPause(bg)
	if err := async.PauseJob(bg); err != nil {
		m.fail("PauseJob(Background) = %v, want nil", err)
	}
	async.BlockPause(bg) // unbalanced on purpose: no effect outside a job
	if async.CurrentJob(bg) != nil {
		m.fail("CurrentJob(Background) != nil")
	}
	s := &m.slots[b%4]
	j := s.last
	if b&4 != 0 && s.job != nil {
		j = s.job
	}
	if j == nil || j.ctx == nil {
		return
	}
	// The ctx of a job that is not running (paused or ended), used from outside.
	if got := async.CurrentJob(j.ctx); got != nil {
		m.fail("CurrentJob(ctx of %s job%d) from outside = %p, want nil", mfStateNames[j.state], j.id, got)
	}
	if err := async.PauseJob(j.ctx); err != nil {
		m.fail("PauseJob(ctx of %s job%d) from outside = %v, want nil", mfStateNames[j.state], j.id, err)
	}
	if b&8 != 0 {
		async.BlockPause(j.ctx) // outside the job: must not block its next PauseJob
	}
	if b&16 != 0 {
		async.UnblockPause(j.ctx)
	}
}

func (m *mfModel) opNilW() {
	m.tracef("nil *WaitCtx calls")
	var nw *async.WaitCtx
	const where = "nil *WaitCtx"
	m.checkErr(where+".SetWaitFD", nw.SetWaitFD(1, 1, nil, m.cleanupFn), []error{async.ErrNilWaitCtx})
	m.checkErr(where+".ClearFD", nw.ClearFD(1), []error{async.ErrNilWaitCtx})
	m.checkErr(where+".SetCallback", nw.SetCallback(m.cbFns[0], 1), []error{async.ErrNilWaitCtx})
	m.checkErr(where+".SetStatus", nw.SetStatus(async.StatusOK), []error{async.ErrNilWaitCtx})
	if fd, data, ok := nw.FD(1); fd != 0 || data != nil || ok {
		m.fail("%s.FD = %d, %v, %v", where, fd, data, ok)
	}
	if all := nw.AllFDs(); all != nil {
		m.fail("%s.AllFDs = %#v, want nil", where, all)
	}
	if a, d := nw.ChangedFDs(); a != nil || d != nil {
		m.fail("%s.ChangedFDs = %#v, %#v, want nil, nil", where, a, d)
	}
	if got := nw.AppendAllFDs([]int{5}); !mfEqInts(got, []int{5}) {
		m.fail("%s.AppendAllFDs([5]) = %v", where, got)
	}
	if a, d := nw.AppendChangedFDs([]int{5}, []int{6}); !mfEqInts(a, []int{5}) || !mfEqInts(d, []int{6}) {
		m.fail("%s.AppendChangedFDs([5], [6]) = %v, %v", where, a, d)
	}
	if fn, arg, ok := nw.Callback(); fn != nil || arg != nil || ok {
		m.fail("%s.Callback = fn set %v, %v, %v", where, fn != nil, arg, ok)
	}
	if st := nw.Status(); st != async.StatusUnsupported {
		m.fail("%s.Status = %v", where, st)
	}
	nw.Free()
	if len(m.log) != 0 {
		m.fail("%s.Free called cleanups", where)
	}
}

func (m *mfModel) opBad(r *mfReader) {
	b := r.b()
	v := b % 4
	p := m.pools[(b>>2)&1]
	w := m.wslots[(b>>3)%3]
	names := []string{"nil job pointer", "nil ctx", "nil Func", "nil WaitCtx"}
	m.tracef("StartJob(%s) pool %s %s", names[v], p.name, w.name)
	where := "StartJob(" + names[v] + ")"
	var want []error
	ctx, wr, fn := context.Background(), w.real, m.bogusFn
	switch v {
	case 0:
		want = []error{async.ErrNilJob}
	case 1:
		ctx = nil
		want = []error{async.ErrNilContext}
	case 2:
		fn = nil
		want = []error{async.ErrNilFunc}
	case 3:
		wr = nil
		want = []error{async.ErrNilWaitCtx}
	}
	if p.closed {
		want = append(want, async.ErrClosed)
	}
	if w.freed && v != 3 {
		want = append(want, async.ErrFreed)
	}
	var h *async.Job
	hp := &h
	if v == 0 {
		hp = nil
	}
	m.mu.Unlock()
	st, _, err := p.real.StartJob(ctx, hp, wr, fn, []byte{1})
	m.mu.Lock()
	if st != async.Err {
		m.fail("%s = %v, want Err", where, st)
	}
	m.checkErr(where, err, want)
	if h != nil {
		m.fail("%s: handle %p, want nil", where, h)
	}
}

// step performs one operation; m.mu is held.
func (m *mfModel) step(r *mfReader) {
	switch op := r.b() % 16; op {
	case 0, 1, 2, 14, 15:
		w := m.wslots[r.b()%3]
		o := mfDecodeWop(r)
		m.tracef("main %s.%s", w.name, o)
		m.applyWop(w, o, "main")
	case 3, 4, 5:
		m.opStart(r)
	case mfOpCancel:
		m.opCancel(r)
	case mfOpStale:
		m.opStale(r)
	case mfOpClose:
		m.opClose(m.pools[r.b()&1])
	case mfOpFree:
		w := m.wslots[r.b()%3]
		m.tracef("main %s.Free()", w.name)
		m.freeW(w, "main")
	case mfOpRenew:
		b := r.b()
		if len(m.allW) < 10 {
			m.wslots[b%3] = m.newW(b&4 != 0)
			m.tracef("wslot %d = new %s", b%3, m.wslots[b%3].name)
		}
	case mfOpOutside:
		m.opOutside(r)
	case mfOpNilW:
		m.opNilW()
	case mfOpBad:
		m.opBad(r)
	}
}

func mfRun(t *testing.T, data []byte) {
	before := goleak.IgnoreCurrent()
	m := newMfModel(t)
	r := &mfReader{data: data}
	b0 := r.b()
	maxSize, initSize := int(b0%4), int((b0>>2)%4)
	if maxSize > 0 && initSize > maxSize {
		initSize = maxSize
	}
	pa, err := async.NewPool(maxSize, initSize)
	if err != nil {
		t.Fatalf("NewPool(%d, %d) = %v", maxSize, initSize, err)
	}
	m.pools[0] = &mfPool{name: "A", real: pa, max: maxSize, size: initSize, idle: initSize}
	m.pools[1] = &mfPool{name: "Z(zero)", real: new(async.Pool)}
	for i := range m.wslots {
		m.wslots[i] = m.newW(i == 2 && b0&16 != 0)
	}
	m.foreign = m.newW(false)
	m.foreign.name = "foreign"
	m.tracef("NewPool(%d, %d); zero WaitCtx in slot 2: %v", maxSize, initSize, b0&16 != 0)

	m.mu.Lock()
	m.checkAll("initial")
	for n := 0; !r.done() && n < 300 && !m.failed; n++ {
		m.step(r)
		m.checkAll("after op " + strconv.Itoa(n))
	}
	// Tear down: close both pools (unwinding paused jobs), free every WaitCtx.
	m.tracef("teardown")
	for _, p := range m.pools {
		m.opClose(p)
	}
	for _, w := range m.allW {
		m.freeW(w, "teardown")
	}
	m.checkAll("teardown")
	for _, p := range m.pools {
		if s := p.real.Stats(); s.Size != 0 || s.Idle != 0 || s.Paused != 0 {
			m.fail("teardown: pool %s has jobs left: %+v", p.name, s)
		}
	}
	failed := m.failed
	if os.Getenv("MF_TRACE") != "" {
		t.Logf("trace:\n  %s", strings.Join(m.trace, "\n  "))
	}
	m.mu.Unlock()
	if failed {
		return
	}
	goleak.VerifyNone(t, before) // every job unwound: no goroutine left
}

// ---------------------------------------------------------------------------
// Seed builders (same encoding as the decoders above)

func mfCat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func mfHdr(maxSize, initSize int, zeroW2 bool) []byte {
	b := byte(maxSize) | byte(initSize)<<2
	if zeroW2 {
		b |= 16
	}
	return []byte{b}
}

// WaitCtx ops.
func mfSet(key, fd int, cleanup bool) []byte {
	kb := byte(key)
	if !cleanup {
		kb |= 8
	}
	fb := byte(fd)
	if fd < 0 {
		fb = 8
	}
	return []byte{mfWSet, kb, fb}
}
func mfClr(key int) []byte               { return []byte{mfWClear, byte(key)} }
func mfGet(key int) []byte               { return []byte{mfWFD, byte(key)} }
func mfAll(v int) []byte                 { return []byte{mfWAll, byte(v)} }
func mfChg(v int) []byte                 { return []byte{mfWChanged, byte(v)} }
func mfSetCB(fn, arg int) []byte         { return []byte{mfWSetCB, byte(fn), byte(arg)} }
func mfGetCB() []byte                    { return []byte{mfWCB} }
func mfSetSt(s int) []byte               { return []byte{mfWSetSt, byte(s + 1)} }
func mfGetSt() []byte                    { return []byte{mfWSt} }
func mfMain(slot int, wop []byte) []byte { return append([]byte{mfOpW, byte(slot)}, wop...) }

// Script steps.
func mfSWop(wop []byte) []byte { return append([]byte{mfSW}, wop...) }

var (
	mfPause   = []byte{mfSPause}
	mfPauseD  = []byte{mfSPauseD}
	mfBlock   = []byte{mfSBlock}
	mfUnblock = []byte{mfSUnblk}
	mfCheck   = []byte{mfSCheck}
	mfGoexit  = []byte{mfSGoexit}
	mfFreeOwn = []byte{mfSFree}
	mfSelf    = []byte{mfSSelf}
)

func mfPanic(kind int) []byte { return []byte{mfSPanic, byte(kind)} }

// Main job ops.
func mfStart(slot, pool, wslot, ret int, args []byte, steps ...[]byte) []byte {
	out := []byte{mfOpStart, byte(slot), byte(pool) | byte(wslot)<<1, byte(ret), byte(len(args))}
	out = append(out, args...)
	out = append(out, byte(len(steps)))
	for _, s := range steps {
		out = append(out, s...)
	}
	return out
}

// mfResume: wsel 0 nil, 1 own, 2 foreign; flags: 3 wrong pool, 16 nil fn+ctx, 32 other goroutine.
func mfResume(slot, wsel int, flags byte) []byte {
	return []byte{mfOpStart, byte(slot), byte(wsel)<<2 | flags}
}
func mfCancel(slot int, flags byte) []byte { return []byte{mfOpCancel, byte(slot), flags} }
func mfStale(slot int, flags byte) []byte  { return []byte{mfOpStale, byte(slot), flags} }
func mfClose(pool int) []byte              { return []byte{mfOpClose, byte(pool)} }
func mfFree(wslot int) []byte              { return []byte{mfOpFree, byte(wslot)} }
func mfRenew(wslot int, zero bool) []byte {
	b := byte(wslot)
	if zero {
		b |= 4
	}
	return []byte{mfOpRenew, b}
}
func mfOutside(b byte) []byte              { return []byte{mfOpOutside, b} }
func mfNilWOp() []byte                     { return []byte{mfOpNilW} }
func mfBadStart(v, pool, wslot int) []byte { return []byte{mfOpBad, byte(v | pool<<2 | wslot<<3)} }

func mfSeeds() [][]byte {
	return [][]byte{
		// 0: WaitCtx basics, window rule without jobs, Free order of cleanups.
		mfCat(mfHdr(3, 0, false),
			mfMain(0, mfSet(1, 5, true)), mfMain(0, mfSet(2, 6, true)), mfMain(0, mfSet(3, 7, false)),
			mfMain(0, mfGet(2)), mfMain(0, mfAll(0)), mfMain(0, mfChg(0)),
			mfMain(0, mfClr(2)), mfMain(0, mfChg(2)), mfMain(0, mfAll(2)),
			mfMain(0, mfSet(2, 6, true)), mfMain(0, mfSet(4, 5, true)), mfMain(0, mfSet(7, 1, true)),
			mfFree(0), mfMain(0, mfSet(1, 1, true)), mfMain(0, mfClr(1)), mfMain(0, mfAll(1)),
			mfMain(0, mfSetCB(0, 1)), mfMain(0, mfGetCB()), mfMain(0, mfSetSt(2)), mfMain(0, mfGetSt()), mfFree(0)),
		// 1: error cases: invalid keys, bad fd, key exists, no fd, bad status, callbacks.
		mfCat(mfHdr(3, 1, false),
			mfMain(1, mfSet(0, 1, true)), mfMain(1, mfSet(5, 1, true)), mfMain(1, mfSet(6, 1, true)),
			mfMain(1, mfSet(1, -1, true)), mfMain(1, mfSet(0, -1, true)), mfMain(1, mfSet(1, 3, true)),
			mfMain(1, mfSet(1, 4, true)), mfMain(1, mfSet(1, -1, true)), mfMain(1, mfClr(2)), mfMain(1, mfClr(5)),
			mfMain(1, mfClr(6)), mfMain(1, mfClr(0)), mfMain(1, mfGet(6)), mfMain(1, mfGet(5)),
			mfMain(1, mfSetSt(-1)), mfMain(1, mfSetSt(4)), mfMain(1, mfSetSt(3)), mfMain(1, mfGetSt()),
			mfMain(1, mfSetCB(1, 9)), mfMain(1, mfGetCB()), mfMain(1, mfSetCB(3, 9)), mfMain(1, mfGetCB()),
			mfMain(1, mfSetCB(2, 200)), mfNilWOp()),
		// 2: the man page example: job sets an fd, pauses, resumed, finishes.
		mfCat(mfHdr(0, 0, false),
			mfStart(0, 0, 0, 1, []byte("Hi"), mfCheck, mfSWop(mfSet(1, 3, true)), mfPause, mfCheck, mfSelf),
			mfMain(0, mfChg(0)), mfMain(0, mfAll(0)), mfResume(0, 1, 0),
			mfMain(0, mfChg(0)), mfMain(0, mfAll(0)), mfFree(0)),
		// 3: window rule across pause/resume; start/finish do not reset.
		mfCat(mfHdr(3, 0, false),
			mfStart(1, 0, 1, 7, nil, mfSWop(mfSet(1, 5, true)), mfPause,
				mfSWop(mfClr(1)), mfSWop(mfSet(1, 6, true)), mfPause,
				mfSWop(mfSet(2, 2, false)), mfSWop(mfClr(2))),
			mfMain(1, mfChg(0)), mfResume(1, 0, 0), mfMain(1, mfChg(0)), mfResume(1, 1, 0), mfMain(1, mfChg(0)),
			mfStart(1, 0, 1, 8, nil, mfSWop(mfClr(1)), mfSWop(mfSet(3, 1, true))), mfMain(1, mfChg(0)),
			mfStart(1, 0, 1, 9, nil, mfPause), mfMain(1, mfChg(0)), mfResume(1, 0, 0), mfMain(1, mfChg(0)), mfFree(1)),
		// 4: NoJobs at max 3, cancel one, start again, Close with outstanding jobs.
		mfCat(mfHdr(3, 2, false),
			mfStart(0, 0, 0, 1, nil, mfPause, mfPause), mfStart(1, 0, 1, 2, nil, mfPause),
			mfStart(2, 0, 2, 3, nil, mfPause, mfSWop(mfSet(1, 1, true))),
			mfStart(3, 0, 0, 4, nil, mfPause),
			mfCancel(1, 0), mfStart(3, 0, 1, 4, nil, mfPause, mfPause),
			mfClose(0), mfStart(0, 0, 0, 1, nil), mfClose(0), mfStale(0, 0), mfStale(2, 1)),
		// 5: BlockPause / UnblockPause, PauseJob on a derived ctx.
		mfCat(mfHdr(2, 0, false),
			mfStart(0, 0, 0, 5, nil, mfBlock, mfBlock, mfPause, mfUnblock, mfPause, mfUnblock, mfUnblock, mfPauseD, mfCheck),
			mfOutside(8|4), mfResume(0, 3, 0), mfOutside(16), mfStart(1, 0, 1, 6, nil, mfUnblock, mfPause)),
		// 6: wrong WaitCtx, wrong pool, stale handles, CancelJob errors.
		mfCat(mfHdr(1, 1, false),
			mfStart(0, 0, 0, 1, nil, mfPause, mfPause), mfResume(0, 2, 0), mfResume(0, 1, 3),
			mfCancel(0, 3), mfCancel(0, 4), mfCancel(2, 0), mfResume(0, 0, 16),
			mfResume(0, 0, 32), mfStale(0, 0), mfStale(0, 1), mfStale(0, 6)),
		// 7: panics and Goexit discard the job.
		mfCat(mfHdr(2, 2, false),
			mfStart(0, 0, 0, 1, nil, mfPanic(0)), mfStart(1, 0, 1, 1, nil, mfPause, mfPanic(1)),
			mfResume(1, 0, 0), mfStart(2, 1, 2, 1, nil, mfGoexit), mfStart(3, 1, 0, 1, nil, mfPanic(2)),
			mfStale(0, 0), mfStale(1, 1), mfStart(0, 0, 0, 3, nil, mfPause), mfCancel(0, 0)),
		// 8: Free a WaitCtx while its job is paused: resume fails, cancel works.
		mfCat(mfHdr(3, 0, false),
			mfStart(0, 0, 0, 1, nil, mfSWop(mfSet(1, 1, true)), mfSWop(mfSet(2, 2, true)), mfPause,
				mfSWop(mfSet(3, 3, true)), mfSWop(mfAll(0))),
			mfFree(0), mfResume(0, 1, 0), mfResume(0, 0, 0), mfCancel(0, 0), mfRenew(0, true),
			mfStart(1, 0, 1, 2, nil, mfSWop(mfSet(1, 1, true)), mfFreeOwn, mfPause, mfSWop(mfSet(1, 1, true))),
			mfResume(1, 0, 0), mfClose(0)),
		// 9: zero Pool and zero WaitCtx, Close with outstanding, start on closed pool.
		mfCat(mfHdr(0, 0, true),
			mfStart(0, 1, 2, 1, []byte{1, 2, 3}, mfSWop(mfSet(4, 0, true)), mfPause, mfCheck),
			mfStart(1, 1, 0, 2, nil, mfPause, mfSWop(mfSet(1, 1, true)), mfPause),
			mfMain(2, mfChg(0)), mfClose(1), mfMain(2, mfChg(0)), mfMain(0, mfChg(0)),
			mfStart(0, 1, 1, 1, nil), mfBadStart(0, 1, 1), mfClose(1), mfStale(1, 0)),
		// 10: outside-job calls, nil WaitCtx, StartJob argument errors.
		mfCat(mfHdr(3, 3, false),
			mfOutside(0), mfNilWOp(), mfBadStart(0, 0, 0), mfBadStart(1, 0, 1), mfBadStart(2, 1, 2),
			mfBadStart(3, 0, 0), mfFree(1), mfBadStart(2, 0, 1), mfStart(0, 0, 1, 1, nil),
			mfStart(1, 0, 0, 1, nil, mfPause), mfOutside(1|4|8), mfOutside(1|4|16), mfResume(1, 0, 48)),
		// 11: resume from another goroutine with nil fn/ctx; renew WaitCtx slots.
		mfCat(mfHdr(3, 1, false),
			mfStart(0, 0, 0, 100, []byte("abc"), mfPause, mfCheck, mfPause, mfCheck),
			mfResume(0, 1, 32|16), mfRenew(0, false), mfResume(0, 0, 32), mfOutside(0),
			mfStart(0, 0, 0, 1, nil, mfSWop(mfSetCB(0, 5)), mfSWop(mfSetSt(2)), mfPause, mfSWop(mfGetCB())),
			mfMain(0, mfGetCB()), mfCancel(0, 0)),
		// 12: add and clear in the same window, across two pauses.
		mfCat(mfHdr(3, 0, false),
			mfMain(2, mfSet(1, 1, true)), mfMain(2, mfSet(2, 2, true)),
			mfStart(0, 0, 2, 1, nil, mfSWop(mfClr(1)), mfSWop(mfSet(3, 3, true)), mfSWop(mfClr(3)), mfPause,
				mfSWop(mfSet(1, 4, true)), mfSWop(mfClr(2)), mfPause, mfSWop(mfClr(1))),
			mfMain(2, mfChg(1)), mfResume(0, 0, 0), mfMain(2, mfChg(2)), mfMain(2, mfClr(4)),
			mfResume(0, 0, 0), mfMain(2, mfChg(0)), mfFree(2)),
	}
}

func FuzzModel(f *testing.F) {
	for _, s := range mfSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mfRun(t, data)
	})
}

// TestModelFuzzSeedsNoLeak runs every seed and checks, after all of them,
// that no goroutine or fd is left.
func TestModelFuzzSeedsNoLeak(t *testing.T) {
	leaktest.Check(t)
	for _, s := range mfSeeds() {
		mfRun(t, s)
	}
}
