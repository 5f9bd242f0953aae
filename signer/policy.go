package signer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// An Authorizer decides which of the server's keys each client may use.
// The server asks it when a client's requests first need the answer and
// again after each Reload, for every key of that client, and keeps the
// answers: never on a request's path. So an Authorizer whose answers
// change says so by a Reload.
type Authorizer interface {
	// Allow reports whether the client identity client (its
	// certificate's CommonName) may use the key named keyName (its
	// Key.Name in the KeyStore) whose key ID is keyID. It is called from
	// several goroutines at once.
	Allow(client, keyName, keyID string) bool
}

// PolicyFile is the name of a deployment's policy, in its directory.
const PolicyFile = "policy.json"

// A Policy is an Authorizer read from a policy file: a JSON object that
// maps client names to the keys each may use, each named by its key
// name (a key file's stem, a token object's label), its key ID, or "*"
// for every key:
//
//	{"alice": ["ecdsap256"], "bob": ["*"]}
//
// A client the policy does not name may use no key; an empty list is
// the same. An entry that names no key the server holds is no error (the
// server's log warns of it): a key may come back. Whoever may write the
// file may grant keys: the server refuses one that group or others may
// write (a *PermissionError).
type Policy struct {
	clients map[string]grant
}

// grant is what one client may use.
type grant struct {
	all  bool
	keys []string // key names and IDs, as the policy says them
}

// Allow reports whether the policy lets client use the key keyName,
// keyID.
func (p *Policy) Allow(client, keyName, keyID string) bool {
	g, ok := p.clients[client]
	return ok && (g.all || slices.Contains(g.keys, keyName) || slices.Contains(g.keys, keyID))
}

// unmatched returns, as "client: entry", the policy's entries that name
// no key of keys, sorted: a typo, or a key that is gone.
func (p *Policy) unmatched(keys map[string]*key) []string {
	held := make(map[string]bool, 2*len(keys))
	for _, k := range keys {
		held[k.name], held[k.id] = true, true
	}
	var out []string
	for c, g := range p.clients {
		for _, e := range g.keys {
			if !held[e] {
				out = append(out, c+": "+e)
			}
		}
	}
	slices.Sort(out)
	return out
}

// A PolicyError says where and why a policy file does not parse.
type PolicyError struct {
	File         string // the file's path ("" for ParsePolicy)
	Line, Column int    // where, counted from 1 (Column in bytes)
	Msg          string
	Err          error // the JSON decoder's error, if it found this one
}

func (e *PolicyError) Error() string {
	file := e.File
	if file == "" {
		file = "policy"
	}
	return fmt.Sprintf("signer: %s:%d:%d: %s", file, e.Line, e.Column, e.Msg)
}

// Unwrap returns the JSON decoder's error, if any.
func (e *PolicyError) Unwrap() error { return e.Err }

// ReadPolicy reads the policy file path (see Policy). Its errors: those
// of reading the file (wrapping fs.ErrNotExist when there is none), and
// a *PolicyError for one that does not parse.
func ReadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signer: policy: %w", err)
	}
	p, err := ParsePolicy(data)
	if pe, ok := err.(*PolicyError); ok {
		pe.File = path
	}
	return p, err
}

// ParsePolicy parses a policy (see Policy), strictly: one JSON object,
// each of its members a client name, once, with a list of non-empty
// strings; nothing after it. Its error is a *PolicyError that says the
// line and column of the first fault.
func ParsePolicy(data []byte) (*Policy, error) {
	d := policyDecoder{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	p := &Policy{clients: map[string]grant{}}
	if err := d.delim('{', "want a JSON object of client names"); err != nil {
		return nil, err
	}
	for d.dec.More() {
		at := d.next()
		name, err := d.str("want a client name")
		if err != nil {
			return nil, err
		}
		if _, dup := p.clients[name]; dup {
			return nil, d.fail(at, nil, fmt.Sprintf("client %q named twice", name))
		}
		if err := d.delim('[', fmt.Sprintf("want a list of key names, key IDs or \"*\" for client %q", name)); err != nil {
			return nil, err
		}
		var g grant
		for d.dec.More() {
			at := d.next()
			e, err := d.str("want a key name, a key ID or \"*\"")
			if err != nil {
				return nil, err
			}
			switch {
			case e == "":
				return nil, d.fail(at, nil, "empty key name")
			case e == "*":
				g.all = true
			case !slices.Contains(g.keys, e):
				g.keys = append(g.keys, e)
			}
		}
		if err := d.delim(']', "want the end of the list"); err != nil {
			return nil, err
		}
		p.clients[name] = g
	}
	if err := d.delim('}', "want the end of the object"); err != nil {
		return nil, err
	}
	at := d.next()
	if _, err := d.dec.Token(); err != io.EOF {
		return nil, d.fail(at, nil, "want nothing after the policy's object")
	}
	return p, nil
}

// policyDecoder reads a policy token by token, so that its errors can
// say where.
type policyDecoder struct {
	data []byte
	dec  *json.Decoder
}

// next returns the offset of the next token: past the white space and
// separators after the decoder's offset.
func (d *policyDecoder) next() int64 {
	off := d.dec.InputOffset()
	for off < int64(len(d.data)) && strings.IndexByte(" \t\r\n,:", d.data[off]) >= 0 {
		off++
	}
	return off
}

// token reads the next token, or returns the error that says where the
// JSON is broken.
func (d *policyDecoder) token() (json.Token, int64, error) {
	at := d.next()
	tok, err := d.dec.Token()
	if err == nil {
		return tok, at, nil
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return nil, at, d.fail(se.Offset, err, se.Error())
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, at, d.fail(int64(len(d.data)), err, "unexpected end of the file")
	}
	return nil, at, d.fail(at, err, err.Error())
}

func (d *policyDecoder) delim(want json.Delim, msg string) error {
	tok, at, err := d.token()
	if err != nil {
		return err
	}
	if got, ok := tok.(json.Delim); !ok || got != want {
		return d.fail(at, nil, msg+", found "+describe(tok))
	}
	return nil
}

func (d *policyDecoder) str(msg string) (string, error) {
	tok, at, err := d.token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", d.fail(at, nil, msg+", found "+describe(tok))
	}
	return s, nil
}

// fail returns a *PolicyError at the byte offset off.
func (d *policyDecoder) fail(off int64, err error, msg string) error {
	off = min(max(off, 0), int64(len(d.data)))
	line := 1 + bytes.Count(d.data[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(d.data[:off], '\n')
	return &PolicyError{Line: line, Column: col, Msg: msg, Err: err}
}

// describe names a token's kind, not its value: a policy file may be
// anything, and an error is no place to copy it to.
func describe(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(t))
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}
