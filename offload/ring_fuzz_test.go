package offload

import "testing"

// FuzzRing applies a sequence of puts and takes to a ring and to a plain
// FIFO of the same depth: every put must be accepted exactly when the FIFO
// has room, and every take must return the FIFO's head (nil when empty).
// The first byte picks the depth (1 to 16); each further byte is a put
// (odd) or a take (even).
func FuzzRing(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 1, 0, 0})
	f.Add([]byte{2, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0})
	f.Add([]byte{4, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) == 0 {
			return
		}
		depth := int(script[0]%16) + 1
		q := newRing(depth)
		reqs := make([]request, len(script))
		var model []*request
		for i, b := range script[1:] {
			if b%2 == 1 {
				r := &reqs[i]
				if got, want := q.put(r), len(model) < depth; got != want {
					t.Fatalf("step %d: put = %v with %d of %d queued", i, got, len(model), depth)
				}
				if len(model) < depth {
					model = append(model, r)
				}
				continue
			}
			var want *request
			if len(model) > 0 {
				want, model = model[0], model[1:]
			}
			if got := q.take(); got != want {
				t.Fatalf("step %d: take = %p, want %p", i, got, want)
			}
			if q.empty() != (len(model) == 0) {
				t.Fatalf("step %d: empty = %v with %d queued", i, q.empty(), len(model))
			}
		}
	})
}
