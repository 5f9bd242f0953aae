//go:build linux

package main

import (
	"context"
	"crypto"
	_ "crypto/sha256" // the digests, by crypto.Hash
	_ "crypto/sha512"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/seed-e1024768/async/remote"
	"github.com/seed-e1024768/async/signer"
)

// remoteConfig is what -remote, -remote-dir, -remote-client and
// -remote-delay asked for.
type remoteConfig struct {
	addrs      []string // nil: no remote rows; {"embedded"}: a signer in this process
	dir        string
	client     string        // "": the client of dir itself
	delay      time.Duration // the embedded signer's
	algorithms []algorithm
}

// embedded is the -remote value that starts a signer in the process.
const embedded = "embedded"

// remoteAlgorithms are those a remote signer offers, with what asyncspeed
// signs for each, as in the local rows: a digest (SHA-384 for P-384,
// SHA-512 for P-521, as TLS 1.3 pairs them; SHA-256 for the others), or
// Ed25519's 64-byte message.
var remoteAlgorithms = map[string]struct {
	alg     remote.Algorithm
	payload []byte
}{
	"ecdsap256": {remote.ECDSAP256SHA256, digestOf(crypto.SHA256)},
	"ecdsap384": {remote.ECDSASHA384, digestOf(crypto.SHA384)},
	"ecdsap521": {remote.ECDSASHA512, digestOf(crypto.SHA512)},
	"ed25519":   {remote.Ed25519, make([]byte, 64)},
	"rsa2048":   {remote.RSAPKCS1SHA256, digestOf(crypto.SHA256)},
	"rsa3072":   {remote.RSAPKCS1SHA256, digestOf(crypto.SHA256)},
	"rsa4096":   {remote.RSAPKCS1SHA256, digestOf(crypto.SHA256)},
}

func digestOf(h crypto.Hash) []byte {
	w := h.New()
	w.Write([]byte("asyncspeed"))
	return w.Sum(nil)
}

// remoteModes are the rows of an algorithm measured through a remote
// signer, in table order: as the local ones, and unary, one plain unary
// gRPC call per operation, each on a goroutine of its own.
func remoteModes(cfg config) []string {
	return slices.Concat([]string{"sync"}, cfg.modes, []string{"goroutines", "unary"})
}

// fleet is the remote signers a run measures through: an engine for each
// way of waking paused jobs, and the key ID for each algorithm.
type fleet struct {
	desc    string // for the table's title and errors
	engines map[remote.Notify]*remote.Engine
	keys    map[string]string // algorithm name to key ID
	stop    func()            // stops an embedded signer and removes its files
}

// openFleet dials the signers of cfg.remote (starting an embedded one
// first if asked) and signs once with each key, so that a signer that
// refuses this client, or that this client refuses, is reported now, as
// an error that says so, not as a table of zeros.
func openFleet(ctx context.Context, cfg config) (f *fleet, err error) {
	rc := cfg.remote
	f = &fleet{engines: map[remote.Notify]*remote.Engine{}, keys: map[string]string{}, stop: func() {}}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	addrs, dir := rc.addrs, rc.dir
	f.desc = "remote signer " + addrs[0]
	if len(addrs) > 1 {
		f.desc = "remote signers " + strings.Join(addrs, ",")
	}
	if rc.client != "" {
		// A client directory holds what dir does for a client.
		dir = filepath.Join(dir, "clients", rc.client)
		f.desc += " as client " + rc.client
	}
	if len(addrs) == 1 && addrs[0] == embedded {
		addr, d, stop, err := startEmbedded(rc.delay)
		if err != nil {
			return f, fmt.Errorf("starting the embedded signer: %w", err)
		}
		f.stop = stop
		addrs, dir = []string{addr}, d
		f.desc = fmt.Sprintf("embedded remote signer on %s (delay %v)", addr, rc.delay)
	}
	tlsCfg, err := signer.ClientTLS(dir)
	if err != nil {
		return f, fmt.Errorf("%s: %w", f.desc, err)
	}
	for _, n := range []remote.Notify{remote.NotifyAuto, remote.NotifyFD, remote.NotifyPoll} {
		e, err := remote.New(remote.Config{
			Addrs: addrs, TLS: tlsCfg, Notify: n, AppParks: true, // package loop parks
			// A signer takes 4096 requests per stream; past that, jobs wait.
			MaxInFlight: min(max(cfg.asyncJobs, remote.DefaultMaxInFlight), 4096),
		})
		if err != nil {
			return f, fmt.Errorf("%s: %w", f.desc, err)
		}
		f.engines[n] = e
	}
	for _, a := range rc.algorithms {
		cert, err := signer.ReadCert(dir, a.name)
		if err != nil {
			return f, fmt.Errorf("%s: %w", f.desc, err)
		}
		id := remote.KeyID(cert.RawSubjectPublicKeyInfo)
		f.keys[a.name] = id
		for _, e := range f.engines {
			tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			ra := remoteAlgorithms[a.name]
			_, err = e.Sign(tctx, id, ra.alg, ra.payload)
			cancel()
			if errors.Is(err, remote.ErrDenied) {
				return f, fmt.Errorf("%s: the signer's policy does not let this client use key %s (%s): %w", f.desc, a.name, id, err)
			}
			if err != nil {
				return f, fmt.Errorf("%s: signing with %s: %w", f.desc, a.name, err)
			}
		}
	}
	return f, nil
}

func (f *fleet) close() {
	for _, e := range f.engines {
		e.Close()
	}
	f.stop()
}

// target measures algorithm a through the fleet.
func (f *fleet) target(cfg config, a algorithm) target {
	ra, kid := remoteAlgorithms[a.name], f.keys[a.name]
	return target{
		name:  a.name,
		modes: remoteModes(cfg),
		prepare: func(mode string) (work, int, func(), error) {
			n := remote.NotifyAuto
			switch mode {
			case "fd":
				n = remote.NotifyFD
			case "poll":
				n = remote.NotifyPoll
			}
			e := f.engines[n]
			if mode == "unary" {
				return func(ctx context.Context) error {
					_, err := e.SignOne(ctx, kid, ra.alg, ra.payload)
					return err
				}, 0, func() {}, nil
			}
			return func(ctx context.Context) error {
				_, err := e.Sign(ctx, kid, ra.alg, ra.payload)
				return err
			}, 0, func() {}, nil
		},
		// A signer lost, or slow past a deadline, costs the operations it
		// had: they are counted as errors. What no retry mends ends the run.
		fatal: func(err error) bool {
			return errors.Is(err, remote.ErrRefused) || errors.Is(err, remote.ErrUnknownKey) || errors.Is(err, remote.ErrDenied) ||
				errors.Is(err, remote.ErrBadInput) || errors.Is(err, remote.ErrClosed)
		},
	}
}

// allFailed returns an error if a row counted errors and not one
// operation.
func allFailed(rows []row) error {
	for _, r := range rows {
		if r.Seconds > 0 && r.Ops == 0 && r.Errors > 0 {
			return fmt.Errorf("%s, %s: all %d operations failed", r.Algorithm, r.Mode, r.Errors)
		}
	}
	return nil
}

// initDeployment writes the embedded signer's deployment. Tests, which
// start many, replace it with a copy of one: its RSA-4096 key alone takes
// seconds to make under the race detector.
var initDeployment = signer.Init

// startEmbedded starts a signer in this process on loopback, with a
// throwaway deployment (CA, certificates, keys) in a temporary directory;
// stop stops it and removes the directory. The deployment is made in a
// directory of its own, so that removing that one also removes the CA
// keys that Init writes beside the deployment (signer.CADir).
func startEmbedded(delay time.Duration) (addr, dir string, stop func(), err error) {
	tmp, err := os.MkdirTemp("", "asyncspeed-signer-")
	if err != nil {
		return "", "", nil, err
	}
	fail := func(err error) (string, string, func(), error) {
		os.RemoveAll(tmp)
		return "", "", nil, err
	}
	dir = filepath.Join(tmp, "deploy")
	if err := initDeployment(dir); err != nil {
		return fail(err)
	}
	srv, err := signer.New(signer.Config{Dir: dir, Delay: delay})
	if err != nil {
		return fail(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(lis)
	}()
	return lis.Addr().String(), dir, func() {
		srv.Stop(time.Second)
		<-served
		os.RemoveAll(tmp)
	}, nil
}
