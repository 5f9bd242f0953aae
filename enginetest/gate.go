package enginetest

import "sync"

// A Gate holds operations back for Engine.Hold: the engine's transport
// calls Wait before it completes an operation, and Wait blocks while the
// gate is held. The zero Gate is open.
type Gate struct {
	mu   sync.Mutex
	shut chan struct{} // closed when the hold ends; nil while open
}

// Hold shuts the gate and returns the function that opens it again (safe
// to call more than once).
func (g *Gate) Hold() (release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut == nil {
		g.shut = make(chan struct{})
	}
	ch := g.shut
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			if g.shut == ch {
				g.shut = nil
			}
			g.mu.Unlock()
			close(ch)
		})
	}
}

// Wait blocks while the gate is held.
func (g *Gate) Wait() {
	g.mu.Lock()
	ch := g.shut
	g.mu.Unlock()
	if ch != nil {
		<-ch
	}
}
