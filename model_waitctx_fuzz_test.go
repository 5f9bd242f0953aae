package async_test

// A model of WaitCtx written from ASYNC_WAIT_CTX_new(3) and the Go API
// contract alone, and FuzzWaitCtx, which holds the library to it.
//
// The model keeps the fds now set as a plain list and, for ChangedFDs, a
// copy of that list taken when the change window opened (a paused job of the
// WaitCtx was resumed, or the WaitCtx was made). What changed is the
// difference of the two: an fd set now that the copy lacks was added, one in
// the copy no longer set was deleted, and one added and cleared in between
// is in neither. Each SetWaitFD makes a new entry, so clearing a key and
// setting it again, even to the same fd, is one deletion and one addition.

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/seed-e1024768/async"
)

// wcEntry is one fd set by SetWaitFD and not cleared since.
type wcEntry struct {
	call    int // which SetWaitFD set it: what makes two entries different
	key     int // index into mfKeys
	fd      int
	data    int
	cleanup bool // a cleanup was given: Free must call it
}

// wcModel is what a WaitCtx holds according to the man page.
type wcModel struct {
	set    []wcEntry // set now, oldest first
	window []wcEntry // set when the change window opened, oldest first
	calls  int       // SetWaitFD calls that succeeded
	freed  bool

	cbSet       bool // a non-nil callback is set
	cbFn, cbArg int
	status      int
}

// find returns the index in m.set of the entry under valid key k, or -1.
func (m *wcModel) find(k int) int {
	return slices.IndexFunc(m.set, func(e wcEntry) bool { return mfSameKey(e.key, k) })
}

// setFD is SetWaitFD: it returns the errors the call may report (none: it
// must succeed, and the model has recorded the fd).
func (m *wcModel) setFD(k, fd, data int, cleanup bool) (want []error) {
	if m.freed {
		return []error{async.ErrFreed}
	}
	if !mfKeyValid(k) {
		want = append(want, async.ErrInvalidKey)
	} else if m.find(k) >= 0 {
		want = append(want, async.ErrKeyExists)
	}
	if fd < 0 {
		want = append(want, async.ErrBadFD)
	}
	if len(want) == 0 {
		m.calls++
		m.set = append(m.set, wcEntry{call: m.calls, key: k, fd: fd, data: data, cleanup: cleanup})
	}
	return want
}

// clearFD is ClearFD: the entry goes without its cleanup being called.
func (m *wcModel) clearFD(k int) []error {
	switch {
	case m.freed:
		return []error{async.ErrFreed}
	case !mfKeyValid(k):
		return []error{async.ErrInvalidKey}
	}
	i := m.find(k)
	if i < 0 {
		return []error{async.ErrNoFD}
	}
	m.set = slices.Delete(m.set, i, i+1)
	return nil
}

// get is FD: the entry under k, if any.
func (m *wcModel) get(k int) (wcEntry, bool) {
	if m.freed || !mfKeyValid(k) {
		return wcEntry{}, false
	}
	if i := m.find(k); i >= 0 {
		return m.set[i], true
	}
	return wcEntry{}, false
}

// newestFirst returns the fds of es, newest first; nil when es is empty.
func newestFirst(es []wcEntry) []int {
	var fds []int
	for _, e := range slices.Backward(es) {
		fds = append(fds, e.fd)
	}
	return fds
}

// all is AllFDs.
func (m *wcModel) all() []int { return newestFirst(m.set) }

// changed is ChangedFDs: the entries set now that were not when the window
// opened, and those set then that are not now; each list newest first.
func (m *wcModel) changed() (added, deleted []int) {
	has := func(es []wcEntry, e wcEntry) bool {
		return slices.ContainsFunc(es, func(x wcEntry) bool { return x.call == e.call })
	}
	var a, d []wcEntry
	for _, e := range m.set {
		if !has(m.window, e) {
			a = append(a, e)
		}
	}
	for _, e := range m.window {
		if !has(m.set, e) {
			d = append(d, e)
		}
	}
	return newestFirst(a), newestFirst(d)
}

// resumed opens a new change window: a paused job of this WaitCtx was
// resumed (by StartJob, CancelJob or Close).
func (m *wcModel) resumed() {
	if !m.freed {
		m.window = slices.Clone(m.set)
	}
}

// free is Free: it returns the entries whose cleanup must be called, in the
// order Free calls them (newest first), and leaves the model freed: every
// read returns its zero result from now on.
func (m *wcModel) free() []wcEntry {
	if m.freed {
		return nil
	}
	var cl []wcEntry
	for _, e := range slices.Backward(m.set) {
		if e.cleanup {
			cl = append(cl, e)
		}
	}
	*m = wcModel{freed: true}
	return cl
}

func (m *wcModel) setCallback(fn, arg int) []error {
	if m.freed {
		return []error{async.ErrFreed}
	}
	m.cbSet, m.cbFn, m.cbArg = fn < 3, fn, arg // fn 3 is nil: it removes the callback
	return nil
}

func (m *wcModel) setStatus(s int) []error {
	switch {
	case m.freed:
		return []error{async.ErrFreed}
	case s < int(async.StatusUnsupported) || s > int(async.StatusEAGAIN):
		return []error{async.ErrBadStatus}
	}
	m.status = s
	return nil
}

// mfW is a real WaitCtx and its model.
type mfW struct {
	name string
	real *async.WaitCtx
	m    wcModel
}

func newMfW(name string, zero bool) *mfW {
	w := &mfW{name: name, real: async.NewWaitCtx()}
	if zero {
		w.real = new(async.WaitCtx) // the zero WaitCtx is ready to use
		w.name += "(zero)"
	}
	return w
}

// applyWop performs op on w and on its model and compares the results.
func (c *mfChecker) applyWop(w *mfW, op mfWop, where string) {
	where = where + " " + w.name + "." + op.String()
	rw := w.real
	switch op.kind {
	case mfWSet:
		c.data++
		var cl async.CleanupFunc
		if op.cleanup {
			cl = c.cleanupFn
		}
		err := rw.SetWaitFD(mfKeys[op.key], op.fd, c.data, cl)
		c.checkErr(where, err, w.m.setFD(op.key, op.fd, c.data, op.cleanup))

	case mfWClear:
		c.checkErr(where, rw.ClearFD(mfKeys[op.key]), w.m.clearFD(op.key))

	case mfWFD:
		c.checkFD(w, op.key, where)

	case mfWAll:
		var got, prefix []int
		switch op.variant {
		case 0:
			got = rw.AllFDs()
		case 1:
			got = rw.AppendAllFDs(nil)
		default:
			prefix = []int{-7}
			got = rw.AppendAllFDs(append(make([]int, 0, 8), prefix...))
		}
		want := w.m.all()
		if !mfEqInts(got, append(slices.Clone(prefix), want...)) || (op.variant == 0 && (got == nil) != (want == nil)) {
			c.fail("%s = %#v, want %v after %v", where, got, want, prefix)
		}

	case mfWChanged:
		var ga, gd, pa, pd []int
		switch op.variant {
		case 0:
			ga, gd = rw.ChangedFDs()
		case 1:
			ga, gd = rw.AppendChangedFDs(nil, nil)
		default:
			pa, pd = []int{-7}, []int{-8, -9}
			ga, gd = rw.AppendChangedFDs(append(make([]int, 0, 8), pa...), append(make([]int, 0, 3), pd...))
		}
		wa, wd := w.m.changed()
		if !mfEqInts(ga, append(slices.Clone(pa), wa...)) || !mfEqInts(gd, append(slices.Clone(pd), wd...)) ||
			(op.variant == 0 && ((ga == nil) != (wa == nil) || (gd == nil) != (wd == nil))) {
			c.fail("%s = added %#v deleted %#v; want added %v deleted %v after %v, %v", where, ga, gd, wa, wd, pa, pd)
		}

	case mfWSetCB:
		var fn async.CallbackFunc
		if op.fn < 3 {
			fn = c.cbFns[op.fn]
		}
		c.checkErr(where, rw.SetCallback(fn, op.arg), w.m.setCallback(op.fn, op.arg))

	case mfWCB:
		c.checkCallback(w, where)

	case mfWSetSt:
		c.checkErr(where, rw.SetStatus(async.EngineStatus(op.status)), w.m.setStatus(op.status))

	case mfWSt:
		if got := rw.Status(); int(got) != w.m.status {
			c.fail("%s = %v, want %v", where, got, async.EngineStatus(w.m.status))
		}
	}
}

func (c *mfChecker) checkFD(w *mfW, k int, where string) {
	fd, data, ok := w.real.FD(mfKeys[k])
	e, set := w.m.get(k)
	switch {
	case !set && (fd != 0 || data != nil || ok):
		c.fail("%s: FD(key#%d) = %d, %v, %v; want 0, nil, false", where, k, fd, data, ok)
	case set && (fd != e.fd || data != any(e.data) || !ok):
		c.fail("%s: FD(key#%d) = %d, %v, %v; want %d, %d, true", where, k, fd, data, ok, e.fd, e.data)
	}
}

func (c *mfChecker) checkCallback(w *mfW, where string) {
	fn, arg, ok := w.real.Callback()
	m := &w.m
	if !m.cbSet {
		if ok || fn != nil || (m.freed && arg != nil) {
			c.fail("%s: Callback() = fn set %v, %v, %v; want nil, _, false", where, fn != nil, arg, ok)
		}
		return
	}
	if !ok || fn == nil || arg != any(m.cbArg) {
		c.fail("%s: Callback() = fn set %v, %v, %v; want fn#%d, %d, true", where, fn != nil, arg, ok, m.cbFn, m.cbArg)
		return
	}
	if got, want := fn(arg), 1000*(m.cbFn+1)+m.cbArg; got != want {
		c.fail("%s: Callback() returned the wrong function: fn(arg) = %d, want %d", where, got, want)
	}
}

// freeW frees w and checks its cleanups: every fd still set, exactly once,
// newest first, with (w, key, fd, data); never those cleared with ClearFD.
func (c *mfChecker) freeW(w *mfW, where string) {
	where = where + " " + w.name + ".Free()"
	c.checkNoCleanups(where)
	var want []mfCall
	for _, e := range w.m.free() {
		want = append(want, mfCall{w.real, mfKeys[e.key], e.fd, e.data})
	}
	w.real.Free()
	got := c.log
	c.log = nil
	if !slices.Equal(got, want) {
		c.fail("%s: cleanups called %s, want %s", where, mfCalls(got), mfCalls(want))
	}
}

// checkNoCleanups fails if a cleanup was called since the last Free.
func (c *mfChecker) checkNoCleanups(where string) {
	if len(c.log) != 0 {
		c.fail("%s: cleanups %s were called outside Free", where, mfCalls(c.log))
		c.log = nil
	}
}

// checkW compares everything readable of w with the model; reading changes
// nothing, so it may run after every operation.
func (c *mfChecker) checkW(w *mfW, where string) {
	where += " " + w.name
	c.applyWop(w, mfWop{kind: mfWAll}, where)
	c.applyWop(w, mfWop{kind: mfWChanged}, where)
	c.applyWop(w, mfWop{kind: mfWSt}, where)
	c.checkCallback(w, where)
	for _, k := range mfValidKeys {
		c.checkFD(w, k, where)
	}
}

// ---------------------------------------------------------------------------
// FuzzWaitCtx: two WaitCtx slots, and one job that pauses on demand so that
// inputs can open new change windows by resuming it.

// Operations: op byte; bits 0-2 the operation, bit 3 the WaitCtx slot.
const (
	wfOpW      = 0 // 0-3: a WaitCtx operation (wop bytes follow)
	wfOpFree   = 4
	wfOpRenew  = 5 // flag byte: bit 0 makes a zero WaitCtx
	wfOpJob    = 6 // flag byte: start a job that pauses, or resume it (bit 0: to finish)
	wfOpCancel = 7
)

type wfRun struct {
	*mfChecker
	pool  *async.Pool
	ws    [2]*mfW
	all   []*mfW
	job   *async.Job // the paused job, or nil
	jobW  *mfW       // its WaitCtx
	stop  bool       // the paused job returns when next resumed
	jobFn async.Func
}

func (r *wfRun) newW(zero bool) *mfW {
	w := newMfW(fmt.Sprintf("w%d", len(r.all)), zero)
	r.all = append(r.all, w)
	return w
}

// opJob starts a job on w that pauses until told to stop, or resumes the
// paused one (on whichever WaitCtx it has). Only a resume opens a new change
// window; starting and finishing do not.
func (r *wfRun) opJob(w *mfW, flags byte) {
	if r.job == nil {
		r.tracef("start job on %s", w.name)
		st, _, err := r.pool.StartJob(context.Background(), &r.job, w.real, r.jobFn, nil)
		switch {
		case w.m.freed:
			if st != async.Err || r.job != nil {
				r.fail("StartJob on freed %s = %v, %v, handle %p; want Err", w.name, st, err, r.job)
			}
			r.checkErr("StartJob on freed "+w.name, err, []error{async.ErrFreed})
		case st != async.Pause || err != nil || r.job == nil:
			r.fail("StartJob on %s = %v, %v; want Pause", w.name, st, err)
		default:
			r.jobW = w
		}
		return
	}
	w = r.jobW
	stop := flags&1 != 0
	r.stop = stop
	r.tracef("resume job on %s (stop %v)", w.name, stop)
	st, _, err := r.pool.StartJob(context.Background(), &r.job, w.real, nil, nil)
	switch {
	case w.m.freed:
		if st != async.Err {
			r.fail("resume with freed %s = %v, %v; want Err", w.name, st, err)
		}
		r.checkErr("resume with freed "+w.name, err, []error{async.ErrFreed})
		return
	case stop && (st != async.Finish || err != nil || r.job != nil):
		r.fail("resume to finish = %v, %v, handle %p; want Finish", st, err, r.job)
	case !stop && (st != async.Pause || err != nil || r.job == nil):
		r.fail("resume to pause = %v, %v; want Pause", st, err)
	}
	w.m.resumed()
}

// opCancel cancels the paused job, which resumes it: a new change window
// (unless its WaitCtx was freed, which leaves nothing to change).
func (r *wfRun) opCancel() {
	if r.job == nil {
		return
	}
	r.tracef("cancel job on %s", r.jobW.name)
	if _, err := r.pool.CancelJob(&r.job); err != nil || r.job != nil {
		r.fail("CancelJob = %v, handle %p; want nil, nil", err, r.job)
	}
	r.jobW.m.resumed()
	r.job = nil
}

func wfRunInput(t *testing.T, data []byte) {
	r := &wfRun{mfChecker: newMfChecker(t), pool: new(async.Pool)}
	r.jobFn = func(ctx context.Context, _ []byte) int {
		for !r.stop && async.PauseJob(ctx) == nil {
		}
		r.stop = false
		return 0
	}
	in := &mfReader{data: data}
	hdr := in.b()
	r.ws[0], r.ws[1] = r.newW(hdr&1 != 0), r.newW(hdr&2 != 0)
	r.tracef("w0 zero %v, w1 zero %v", hdr&1 != 0, hdr&2 != 0)
	for n := 0; !in.done() && n < 500 && !r.failed; n++ {
		b := in.b()
		w := r.ws[b>>3&1]
		switch b & 7 {
		case 0, 1, 2, 3:
			op := mfDecodeWop(in)
			r.tracef("%s.%s", w.name, op)
			r.applyWop(w, op, "")
		case wfOpFree:
			r.tracef("%s.Free()", w.name)
			r.freeW(w, "")
		case wfOpRenew:
			zero := in.b()&1 != 0
			if len(r.all) < 8 {
				r.ws[b>>3&1] = r.newW(zero)
				r.tracef("slot %d = new %s", b>>3&1, r.ws[b>>3&1].name)
			}
		case wfOpJob:
			r.opJob(w, in.b())
		case wfOpCancel:
			r.opCancel()
		}
		r.checkNoCleanups(fmt.Sprintf("after op %d", n))
		for _, w := range r.all {
			r.checkW(w, fmt.Sprintf("after op %d", n))
		}
	}
	r.tracef("teardown")
	r.opCancel()
	if err := r.pool.Close(); err != nil {
		r.fail("Close = %v, want nil", err)
	}
	for _, w := range r.all {
		r.freeW(w, "teardown")
		r.checkW(w, "teardown")
	}
}

// Seed builders for FuzzWaitCtx.
func wfW(slot int, wop []byte) []byte    { return append([]byte{byte(wfOpW | slot<<3)}, wop...) }
func wfFree(slot int) []byte             { return []byte{byte(wfOpFree | slot<<3)} }
func wfRenew(slot int, zero bool) []byte { return []byte{byte(wfOpRenew | slot<<3), mfBool(zero)} }
func wfJob(slot int, stop bool) []byte   { return []byte{byte(wfOpJob | slot<<3), mfBool(stop)} }
func wfCancel() []byte                   { return []byte{wfOpCancel} }

func mfBool(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func wfSeeds() [][]byte {
	return [][]byte{
		// Basics: set, read, clear, Free calls only the cleanups of fds still set.
		mfCat([]byte{0},
			wfW(0, mfSet(1, 5, true)), wfW(0, mfSet(2, 6, true)), wfW(0, mfSet(3, 7, false)),
			wfW(0, mfGet(2)), wfW(0, mfAll(2)), wfW(0, mfChg(2)), wfW(0, mfClr(2)), wfW(0, mfClr(2)),
			wfW(0, mfSet(10, 1, true)), wfW(0, mfSet(11, 2, true)), wfW(0, mfSet(12, 3, true)),
			wfW(0, mfSet(13, 4, true)), wfW(0, mfSet(14, 0, true)), wfW(0, mfSet(15, 0, true)),
			wfW(0, mfClr(15)), wfW(0, mfSet(7, 8, true)), wfFree(0), wfW(0, mfSet(1, 1, true)),
			wfW(0, mfSetCB(1, 2)), wfW(0, mfSetSt(2)), wfFree(0)),
		// Invalid keys, bad fds and statuses, callbacks, on a zero WaitCtx.
		mfCat([]byte{1},
			wfW(0, mfSet(0, 1, true)), wfW(0, mfSet(5, 1, true)), wfW(0, mfSet(6, 1, true)),
			wfW(0, mfSet(8, 1, true)), wfW(0, mfSet(9, 1, true)), wfW(0, mfSet(1, -1, true)),
			wfW(0, mfSet(8, -1, true)), wfW(0, mfClr(8)), wfW(0, mfGet(9)), wfW(0, mfSetSt(4)),
			wfW(0, mfSetSt(-1)), wfW(0, mfSetSt(3)), wfW(0, mfSetCB(0, 7)), wfW(0, mfSetCB(3, 7)),
			wfW(0, mfGetCB()), wfW(0, mfSetCB(2, 9)), wfW(0, mfGetCB())),
		// Change windows: only resuming a paused job of the same WaitCtx resets them.
		mfCat([]byte{0},
			wfW(0, mfSet(1, 1, true)), wfW(1, mfSet(1, 2, true)), wfJob(0, false),
			wfW(0, mfSet(2, 3, true)), wfW(0, mfClr(1)), wfW(0, mfSet(1, 1, true)), wfW(0, mfSet(3, 4, true)),
			wfW(0, mfClr(3)), wfJob(0, false), wfW(0, mfClr(2)), wfW(1, mfClr(1)), wfJob(0, true),
			wfW(0, mfChg(0)), wfJob(1, false), wfW(1, mfSet(2, 5, true)), wfCancel(), wfW(1, mfChg(1))),
		// Free while the job is paused; renew the slot; the zero WaitCtx in a job.
		mfCat([]byte{2},
			wfW(1, mfSet(1, 1, true)), wfJob(1, false), wfW(1, mfSet(2, 2, true)), wfFree(1),
			wfJob(1, false), wfCancel(), wfRenew(1, true), wfJob(1, false), wfW(1, mfSet(4, 4, true)),
			wfJob(1, true), wfFree(1), wfJob(1, false)),
	}
}

func FuzzWaitCtx(f *testing.F) {
	for _, s := range wfSeeds() {
		f.Add(s)
	}
	f.Fuzz(wfRunInput)
}
