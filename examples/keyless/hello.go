//go:build linux

package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
)

// hello answers every request with what the connection's handshake was:
// its TLS parameters, the scheme its signature was made with, and where
// the key that made it is.
func (s *server) hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Hello from the keyless example: %s %s over %s.\n", r.Method, r.URL.Path, r.Proto)
	st := r.TLS
	if st == nil {
		fmt.Fprintln(w, "This connection is not TLS.")
		return
	}
	fmt.Fprintf(w, "TLS: %s, %s, key exchange %s\n",
		tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), st.CurveID)
	var scheme tls.SignatureScheme
	var served *site
	if c := connFrom(r.Context()); c != nil {
		scheme = tls.SignatureScheme(c.scheme.Load())
		served = c.site.Load()
	}
	switch {
	case st.DidResume:
		fmt.Fprintln(w, "Handshake signature: none, the session was resumed")
	case scheme == 0:
		fmt.Fprintln(w, "Handshake signature: not seen by this server")
	default:
		fmt.Fprintf(w, "Handshake signature: %s\n", schemeName(scheme))
	}
	if served != nil {
		fmt.Fprintf(w, "Certificate: %s, for %s\n", served.file, strings.Join(served.cert.Leaf.DNSNames, ", "))
	}
	fmt.Fprintf(w, "Key: %s\n", s.where)
}
