// Package pkcs11store serves a PKCS #11 token's keys to a signer.Server:
// an HSM's, a smart card's, SoftHSM2's. Its Store is a signer.KeyStore
// whose keys are the token's ECDSA (P-256, P-384, P-521) and RSA key
// pairs, each named by its label (CKA_LABEL), and each signing inside the
// token: the private key never leaves it. Generate makes a key pair in
// the token, never as a file.
//
//	pin, err := pkcs11store.ReadPIN("/etc/asyncsignd/pin")
//	...
//	st, err := pkcs11store.Open(pkcs11store.Config{Module: "/usr/lib/softhsm/libsofthsm2.so", Token: "signer", PIN: pin})
//	...
//	defer st.Close() // after the server's Stop
//	s, err := signer.New(signer.Config{Dir: dir, Keys: st})
//
// It talks to the module through github.com/ThalesGroup/crypto11, which
// uses cgo: built without cgo (CGO_ENABLED=0, or cross-compiled), Open
// returns ErrNoCgo, and package signer itself never needs cgo.
package pkcs11store
