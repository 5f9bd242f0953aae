package async_test

// What the two model fuzz targets share: the byte reader that decodes a fuzz
// input, the table of keys, the encoding of WaitCtx operations, and the
// checker that records a trace and reports the first mismatch with it.
//
// FuzzWaitCtx (model_waitctx_fuzz_test.go) checks WaitCtx alone against a
// model written from ASYNC_WAIT_CTX_new(3) and the Go API contract.
// FuzzModel (model_pool_fuzz_test.go) drives pools and jobs, whose scripts
// use WaitCtx operations, against a model of ASYNC_start_job(3) built on the
// same WaitCtx model.

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/seed-e1024768/async"
)

// mfReader hands out the bytes of a fuzz input, then zeros.
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

// Keys, chosen by index. The contract: a key is any comparable value; nil,
// an uncomparable value and NaN are invalid. Two keys are the same key when
// they are == (so 12 and 13 are one key, and so are 14 and 15), and values
// of different types never are (int(1) and int8(1) are two keys).
type mfUncmp struct{ v any }

// mfPtrKey is not zero-sized, so distinct pointers to it are distinct keys.
type mfPtrKey struct{ name string }

type mfValKey struct {
	s string
	n int
}

var mfKeys = [16]any{
	nil, 1, 2, 3, "k", []int{1}, mfUncmp{[]int{2}}, int8(1),
	math.NaN(), float32(math.NaN()), &mfPtrKey{"a"}, &mfPtrKey{"a"},
	mfValKey{"a", 1}, mfValKey{"a", 1}, 0.0, math.Copysign(0, -1),
}

func mfKeyValid(k int) bool {
	switch k {
	case 0, 5, 6, 8, 9:
		return false
	}
	return true
}

// mfSameKey reports whether valid keys a and b are one key.
func mfSameKey(a, b int) bool { return mfKeys[a] == mfKeys[b] }

// mfValidKeys lists the valid keys, each once (one of every pair of equal ones).
var mfValidKeys = []int{1, 2, 3, 4, 7, 10, 11, 12, 14}

// WaitCtx operations: kind byte % 12.
const (
	mfWSet     = 0 // 0,1,2: key byte (bits 0-2, 4: key; bit 3: no cleanup), fd byte (%9, 8 = -1)
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

// mfKeyOf decodes a key byte: bits 0-2 and bit 4 choose one of 16 keys.
func mfKeyOf(b byte) int { return int(b&7 | (b>>1)&8) }

func mfDecodeWop(r *mfReader) mfWop {
	switch k := r.b() % 12; k {
	case 0, 1, 2:
		kb, fb := r.b(), r.b()
		fd := int(fb % 9)
		if fd == 8 {
			fd = -1
		}
		return mfWop{kind: mfWSet, key: mfKeyOf(kb), cleanup: kb&8 == 0, fd: fd}
	case 3, 4:
		return mfWop{kind: mfWClear, key: mfKeyOf(r.b())}
	case 5:
		return mfWop{kind: mfWFD, key: mfKeyOf(r.b())}
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

// Seed builders for WaitCtx operations (the encoding above).

func mfSet(key, fd int, cleanup bool) []byte {
	kb := mfKeyByte(key)
	if !cleanup {
		kb |= 8
	}
	fb := byte(fd)
	if fd < 0 {
		fb = 8
	}
	return []byte{mfWSet, kb, fb}
}

func mfKeyByte(key int) byte       { return byte(key&7 | (key&8)<<1) }
func mfClr(key int) []byte         { return []byte{mfWClear, mfKeyByte(key)} }
func mfGet(key int) []byte         { return []byte{mfWFD, mfKeyByte(key)} }
func mfAll(v int) []byte           { return []byte{mfWAll, byte(v)} }
func mfChg(v int) []byte           { return []byte{mfWChanged, byte(v)} }
func mfSetCB(fn, arg int) []byte   { return []byte{mfWSetCB, byte(fn), byte(arg)} }
func mfGetCB() []byte              { return []byte{mfWCB} }
func mfSetSt(s int) []byte         { return []byte{mfWSetSt, byte(s + 1)} }
func mfGetSt() []byte              { return []byte{mfWSt} }
func mfCat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// mfCall is one call of a cleanup.
type mfCall struct {
	w    *async.WaitCtx
	key  any
	fd   int
	data any
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

// mfChecker records what a run did and reports its first mismatch with the
// model, with the operations that led to it.
type mfChecker struct {
	t      *testing.T
	failed bool
	trace  []string

	log       []mfCall // cleanups called and not yet checked
	data      int      // the data value of the last SetWaitFD
	cleanupFn async.CleanupFunc
	cbFns     []async.CallbackFunc
}

func newMfChecker(t *testing.T) *mfChecker {
	c := &mfChecker{t: t}
	c.cleanupFn = func(w *async.WaitCtx, key any, fd int, data any) {
		c.log = append(c.log, mfCall{w, key, fd, data})
		// Cleanups run after w is marked freed: calling back into it must
		// neither deadlock nor find the fd.
		if err := w.SetWaitFD(key, fd, data, nil); !errors.Is(err, async.ErrFreed) {
			c.fail("cleanup: SetWaitFD on the WaitCtx being freed = %v, want ErrFreed", err)
		}
		if _, _, ok := w.FD(key); ok {
			c.fail("cleanup: FD on the WaitCtx being freed found key %v", key)
		}
	}
	for k := range 3 {
		c.cbFns = append(c.cbFns, func(arg any) int {
			a, _ := arg.(int)
			return 1000*(k+1) + a
		})
	}
	return c
}

func (c *mfChecker) fail(format string, args ...any) {
	if c.failed {
		return
	}
	c.failed = true
	tr := c.trace
	if len(tr) > 60 {
		tr = append([]string{"..."}, tr[len(tr)-60:]...)
	}
	c.t.Errorf("model mismatch: "+format+"\noperations (last is the failing one):\n  %s",
		append(args, strings.Join(tr, "\n  "))...)
}

func (c *mfChecker) tracef(format string, args ...any) {
	c.trace = append(c.trace, fmt.Sprintf(format, args...))
}

// checkErr: an empty want means err must be nil; else err must match one
// of want (where two things are wrong at once the contract leaves open which
// error is reported).
func (c *mfChecker) checkErr(where string, err error, want []error) bool {
	if len(want) == 0 {
		if err != nil {
			c.fail("%s: got error %v, want nil", where, err)
			return false
		}
		return true
	}
	for _, w := range want {
		if errors.Is(err, w) {
			return true
		}
	}
	c.fail("%s: got error %v, want one of %v", where, err, want)
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
