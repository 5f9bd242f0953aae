package signer

import (
	"fmt"
	"time"
)

// The defaults of the bounds on connections (see Config).
// DefaultMaxConnsPerClient keeps what a client's connections cost outside
// the bounds in bytes (ConnectionBytes each) to about half of
// DefaultClientMemory.
const (
	DefaultHandshakeTimeout  = 5 * time.Second
	DefaultMaxConns          = 128
	DefaultMaxHandshakes     = 64
	DefaultMaxConnsPerClient = 8
	DefaultIdleTimeout       = 5 * time.Minute
)

// fdReserve is what the open-file limit must leave beyond MaxConns: the
// listener, the poller, standard streams, a profile, the key files.
const fdReserve = 64

// connConfig returns cfg's bounds on connections with the defaults filled
// in, or says which is wrong.
func connConfig(cfg Config) (Config, error) {
	if cfg.HandshakeTimeout < 0 || cfg.MaxConns < 0 || cfg.MaxHandshakes < 0 || cfg.MaxConnsPerClient < 0 || cfg.IdleTimeout < 0 {
		return cfg, fmt.Errorf("signer: negative bound on connections")
	}
	limit := openFileLimit()
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
		if limit > 0 {
			cfg.MaxConns = min(cfg.MaxConns, max(limit/2, 1))
		}
	} else if limit > 0 && cfg.MaxConns > limit-fdReserve {
		return cfg, fmt.Errorf("signer: %d connections do not fit the open-file limit of %d (ulimit -n), which must leave %d more: raise it or lower the bound",
			cfg.MaxConns, limit, fdReserve)
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxHandshakes == 0 {
		cfg.MaxHandshakes = DefaultMaxHandshakes
	}
	if cfg.MaxConnsPerClient == 0 {
		cfg.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	return cfg, nil
}
