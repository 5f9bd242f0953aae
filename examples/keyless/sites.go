//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/seed-e1024768/async/remote"
)

// A site is a certificate the server serves, with the key that signs its
// handshakes.
type site struct {
	file string // "certs/NAME.pem", as messages and responses name it
	// cert is the chain, its parsed Leaf, and the schemes key makes.
	// Its PrivateKey is key itself, for ClientHelloInfo.SupportsCertificate
	// only: each handshake gets a copy with a signer of its own.
	cert tls.Certificate
	key  key
}

// sites picks the site of each handshake by its server name (SNI).
type sites struct {
	def *site // for a client with no SNI, or a name no certificate has
	// byName holds every certificate's DNS names, lowercase, wildcards
	// as "*.example.com", each with its sites: def first where it is
	// one, then in the order of their files.
	byName map[string][]*site
	all    []*site
}

// newSites indexes list by the DNS names of its certificates; def, one
// of list, is the default.
func newSites(list []*site, def *site) *sites {
	t := &sites{def: def, byName: make(map[string][]*site), all: list}
	add := func(s *site) {
		for _, n := range s.cert.Leaf.DNSNames {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			t.byName[n] = append(t.byName[n], s)
		}
	}
	add(def)
	for _, s := range list {
		if s != def {
			add(s)
		}
	}
	return t
}

// pick returns the site for hello: the one whose certificate has its
// server name, else one with a wildcard for it ("*.example.com" for
// "www.example.com", as crypto/tls's NameToCertificate), else the
// default. Of several with the name, it takes the first the client can
// use (its signature schemes, its curves), as a site with both an ECDSA
// and an RSA certificate must; if none, the first, whose handshake then
// fails saying why.
func (t *sites) pick(hello *tls.ClientHelloInfo) *site {
	list := t.lookup(hello.ServerName)
	switch len(list) {
	case 0:
		return t.def
	case 1:
		return list[0]
	}
	for _, s := range list {
		if hello.SupportsCertificate(&s.cert) == nil {
			return s
		}
	}
	return list[0]
}

func (t *sites) lookup(name string) []*site {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name == "" {
		return nil
	}
	if list, ok := t.byName[name]; ok {
		return list
	}
	if _, parent, ok := strings.Cut(name, "."); ok {
		return t.byName["*."+parent]
	}
	return nil
}

// A chain is a certificate file as read, before its key is looked up.
type chain struct {
	file  string // "certs/NAME.pem"
	cert  tls.Certificate
	keyID string
}

// readChains reads DIR/certs/only.pem, or with only "" every
// DIR/certs/*.pem in the order of their names.
func readChains(dir, only string) ([]chain, error) {
	var paths []string
	if only != "" {
		paths = []string{filepath.Join(dir, "certs", only+".pem")}
	} else {
		var err error
		if paths, err = filepath.Glob(filepath.Join(dir, "certs", "*.pem")); err != nil {
			return nil, err
		}
		if len(paths) == 0 {
			return nil, fmt.Errorf("%s: no certificate (*.pem) to serve", filepath.Join(dir, "certs"))
		}
		slices.Sort(paths)
	}
	// Parsing is most of a start with many certificates: one reader
	// per core, each taking every n-th file.
	chains := make([]chain, len(paths))
	errs := make([]error, len(paths))
	n := min(runtime.GOMAXPROCS(0), len(paths))
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for i := w; i < len(paths); i += n {
				cert, err := readChain(paths[i])
				errs[i] = err
				if err == nil {
					chains[i] = chain{file: "certs/" + filepath.Base(paths[i]), cert: cert, keyID: remote.KeyID(cert.Leaf.RawSubjectPublicKeyInfo)}
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err // the first file's, by name
		}
	}
	return chains, nil
}

// A keyLookup returns the signers' key keyID. Its errors that mean the
// key cannot be had from any signer wrap remote.ErrUnknownKey (no signer
// holds it) or remote.ErrUnsupported (the client cannot sign with its
// type); any other (no signer reachable) is the signers' failure.
type keyLookup func(ctx context.Context, keyID string) (key, error)

// lookupsAtOnce bounds the public-key lookups in flight at start: enough
// to hide the round trips, few enough not to flood the signers.
const lookupsAtOnce = 16

// A resolved key is a lookup's answer, with the schemes the key makes.
type resolved struct {
	key     key
	schemes []tls.SignatureScheme
	err     error
}

// resolveKeys looks each distinct key of chains up once, lookupsAtOnce at
// a time, and returns the answers by key ID.
func resolveKeys(ctx context.Context, chains []chain, lookup keyLookup) map[string]*resolved {
	keys := make(map[string]*resolved)
	var ids []string
	for _, c := range chains {
		if _, ok := keys[c.keyID]; !ok {
			keys[c.keyID] = new(resolved)
			ids = append(ids, c.keyID)
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, lookupsAtOnce)
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r := keys[id] // each goroutine writes its own
			if r.key, r.err = lookup(ctx, id); r.err == nil {
				r.schemes = offeredSchemes(r.key)
			}
		})
	}
	wg.Wait()
	return keys
}

// errNoKey marks a certificate whose key no signer can sign with: the
// server refuses to start, or with -skip-missing skips the certificate.
var errNoKey = errors.New("no signer can sign with its key")

// loadSites makes the sites of chains, their keys from lookup; the
// default is the file defaultName.pem if it is one of them, else the
// first. A certificate whose key no signer holds, or whose key the
// signer's client cannot sign with, is an error wrapping errNoKey that
// names it; with skipMissing it is skipped instead, and logged. Any other
// failure of a lookup (the signers unreachable) is an error.
func loadSites(ctx context.Context, chains []chain, lookup keyLookup, defaultName string, skipMissing bool, logger *log.Logger) (*sites, error) {
	keys := resolveKeys(ctx, chains, lookup)
	var list []*site
	var def *site
	for _, c := range chains {
		r := keys[c.keyID]
		err := r.err
		switch {
		case err == nil && len(r.schemes) == 0:
			err = fmt.Errorf("%w: it makes none of the signature schemes TLS has for a %T", errNoKey, r.key.Public())
		case errors.Is(err, remote.ErrUnknownKey), errors.Is(err, remote.ErrUnsupported):
			err = fmt.Errorf("%w: %w", errNoKey, err)
		case err != nil:
			return nil, fmt.Errorf("%s: its key (key ID %s) from the signers: %w", c.file, c.keyID, err)
		}
		if err != nil {
			err = fmt.Errorf("%s (key ID %s): %w", c.file, c.keyID, err)
			if !skipMissing {
				return nil, err
			}
			logger.Printf("skipping %v", err)
			continue
		}
		s := &site{file: c.file, cert: c.cert, key: r.key}
		s.cert.PrivateKey = r.key
		s.cert.SupportedSignatureAlgorithms = r.schemes
		list = append(list, s)
		if def == nil && c.file == "certs/"+defaultName+".pem" {
			def = s
		}
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("no certificate left to serve: %w", errNoKey)
	}
	if def == nil {
		def = list[0]
	}
	return newSites(list, def), nil
}
