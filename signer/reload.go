package signer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// keyring is the server's keys and who may use them: made whole by New
// and by each Reload, never changed once made, and swapped in at once,
// so that every request sees one configuration or the other.
type keyring struct {
	keys    map[string]*key // by ID
	auth    Authorizer      // nil: every client may use every key
	quantum int64           // the scheduler's, for these keys
	views   sync.Map        // client identity → map[string]*key: allowed's
	nviews  atomic.Int64
}

// allowed returns the keys client may use, by ID: worked out once per
// client identity (up to maxViews of them) for the keyring's life, since
// a client's per-client state (see keysFor) lasts only while it has
// calls running, and a client of SignOne may have one at a time.
func (r *keyring) allowed(client string) map[string]*key {
	if r.auth == nil {
		return r.keys // shared: nobody writes to it
	}
	if v, ok := r.views.Load(client); ok {
		return v.(map[string]*key)
	}
	m := make(map[string]*key, len(r.keys))
	for id, k := range r.keys {
		if r.auth.Allow(client, k.name, k.id) {
			m[id] = k
		}
	}
	if r.nviews.Add(1) <= maxViews {
		if v, loaded := r.views.LoadOrStore(client, m); loaded {
			return v.(map[string]*key)
		}
	}
	return m
}

// maxViews bounds the client identities a keyring remembers the keys of:
// the identities are those the client CA issued, but a bound costs
// nothing. Past it, a client's keys are worked out for each of its calls.
const maxViews = 1 << 14

// allows reports whether client may use k.
func (r *keyring) allows(client string, k *key) bool {
	return r.auth == nil || r.auth.Allow(client, k.name, k.id)
}

// config is what New and Reload read: the keyring and the server's TLS.
type config struct {
	ring *keyring
	tls  *tls.Config
	// What the log says of the policy: where it came from ("" for
	// none), and its entries that name no key.
	policy    string
	unmatched []string
}

// load reads the deployment's keys (through store), policy (unless auth
// is set) and TLS identity, or says why it cannot.
func load(dir string, store KeyStore, auth Authorizer) (*config, error) {
	if err := checkPrivate(dir); err != nil {
		return nil, err
	}
	tlsCfg, err := serverTLS(dir)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	keys, err := loadKeys(store)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	c := &config{ring: &keyring{keys: keys, auth: auth, quantum: quantum(keys)}, tls: tlsCfg, policy: "Config.Authorizer"}
	if auth == nil {
		path := filepath.Join(dir, PolicyFile)
		if err := checkMode(path, 0o022, "chmod go-w "+path); err != nil {
			return nil, err
		}
		p, err := ReadPolicy(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			c.policy = ""
		case err != nil:
			return nil, err
		default:
			c.ring.auth, c.policy, c.unmatched = p, path, p.unmatched(keys)
		}
	}
	return c, nil
}

// Reload reads the keys (from Config.Keys), the policy (Dir/policy.json,
// unless Config.Authorizer is set: that is asked again), the client CA
// and the server's certificate again, and puts them in force at once:
// the next request of each client is authorized under the new policy,
// and the next connection's handshake uses the new CA and certificate.
// Connections in flight carry on, and so do signatures being made. A
// request still queued is checked again when a worker takes it: if the
// new configuration no longer lets its client use its key, it is
// answered CODE_PERMISSION_DENIED, and if the signer no longer holds the
// key, CODE_UNKNOWN_KEY, so that access taken away ends at once, queue
// and all. (A key ID names the public key, so a request is never signed
// by another key than it named.) If anything cannot be read
// or does not parse, the old configuration stays in force, whole, and
// Reload returns why: New's errors (a *PolicyError, a *PermissionError,
// ErrNoKeys, those of the key store and of reading the files). Reloads
// are done one at a time; Reload may be called while serving or not.
func (s *Server) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	c, err := load(s.dir, s.store, s.auth)
	if err == nil {
		s.apply(c)
		s.notePolicy(c.policy, c.unmatched)
	}
	s.noteReload(err)
	return err
}

// apply puts c in force.
func (s *Server) apply(c *config) {
	s.tls.Store(c.tls)
	s.ring.Store(c.ring)
	s.q.setQuantum(c.ring.quantum)
}

// setQuantum changes the cost each client's turn is worth, for keys
// whose costliest signature costs n.
func (q *queue) setQuantum(n int64) {
	q.mu.Lock()
	q.quantum = n
	q.mu.Unlock()
}

// serverCreds' config: each handshake takes the server's TLS
// configuration of the moment, so that a Reload's certificate and CA
// are used from the next handshake on.
func (s *Server) dynamicTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.tls.Load(), nil
		},
	}
}

// notePolicy says, when a configuration takes effect, where its policy
// came from (path; "" for none, when every authenticated client may use
// every key) and which of its entries name no key the server holds.
func (s *Server) notePolicy(path string, unmatched []string) {
	if s.obs == nil {
		return
	}
	log := s.obs.log
	switch path {
	case "":
		log.Info("signer: no policy file: every authenticated client may use every key", "file", filepath.Join(s.dir, PolicyFile))
	default:
		log.Info("signer: policy in force", "file", path)
	}
	for _, e := range unmatched {
		log.Warn("signer: policy entry names no key the signer holds", "file", path, "entry", e)
	}
}
