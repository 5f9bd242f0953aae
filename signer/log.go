package signer

import (
	"sync"
	"time"
)

// The log's lines of refused clients are rate-limited, so that a flood
// of connections or denied requests cannot fill a disk: a token bucket
// lets refusalBurst lines through at once and refusalRate a second after
// that; the lines it holds back are counted, and the next line let
// through is preceded by one saying how many ("N more refused lines
// suppressed"). The metrics count every refusal.
const (
	refusalRate  = 10
	refusalBurst = 10
)

// logBucket is a token bucket of log lines.
type logBucket struct {
	mu         sync.Mutex
	rate       float64 // tokens a second
	burst      float64
	tokens     float64
	last       time.Time
	suppressed int
	now        func() time.Time
}

func (b *logBucket) init(rate, burst float64, now func() time.Time) {
	b.rate, b.burst, b.tokens, b.now = rate, burst, burst, now
	b.last = now()
}

// take reports whether a line may be written now, and how many lines
// were held back since the last one let through: when it lets one
// through and some were, the caller says so first.
func (b *logBucket) take() (ok bool, suppressed int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		b.suppressed++
		return false, 0
	}
	b.tokens--
	suppressed, b.suppressed = b.suppressed, 0
	return true, suppressed
}
