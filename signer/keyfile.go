package signer

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrKeyFormat is returned (wrapped) for a key file that holds no private
// key in a format the signer reads: PEM of PKCS #8 ("PRIVATE KEY"), SEC1
// ("EC PRIVATE KEY") or PKCS #1 ("RSA PRIVATE KEY"). The message names the
// file, what it does hold, and the openssl command that converts it.
var ErrKeyFormat = errors.New("signer: not a private key format the signer reads")

// ErrEncryptedKey is returned (wrapped) for a key file whose key is
// encrypted with a passphrase: the signer starts unattended and reads
// keys in the clear, protected by the files' modes (see ErrTooOpen); a
// key that must stay encrypted at rest belongs in a PKCS #11 token. The
// message names the file and the openssl command that decrypts it.
var ErrEncryptedKey = errors.New("signer: the private key is encrypted with a passphrase, which the signer cannot ask for")

// keyFormats says what readPrivateKey accepts, for its errors.
const keyFormats = `PEM "PRIVATE KEY" (PKCS #8), "EC PRIVATE KEY" (SEC1) or "RSA PRIVATE KEY" (PKCS #1)`

// readPrivateKey reads a private key in PEM: the first block of a type
// keyFormats names. Its errors name path and never hold key material:
// those of reading the file, ErrKeyFormat, ErrEncryptedKey, and x509's
// for a block that does not parse.
func readPrivateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var found []string // the types of the other blocks, for the error
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, formatError(path, data, found)
		}
		var k any
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY", "RSA PRIVATE KEY":
			// Deprecated for decrypting; here it only detects
			// OpenSSL's legacy encryption, to say so.
			if x509.IsEncryptedPEMBlock(b) {
				return nil, encryptedError(path)
			}
			if b.Type == "EC PRIVATE KEY" {
				k, err = x509.ParseECPrivateKey(b.Bytes)
			} else {
				k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
			}
		case "ENCRYPTED PRIVATE KEY":
			return nil, encryptedError(path)
		default:
			found = append(found, fmt.Sprintf("%q", b.Type))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s block: %w", path, b.Type, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: a %T cannot sign", path, k)
		}
		return s, nil
	}
}

// formatError says what path holds instead of a key, and how to convert
// it: openssl reads DER too, when told.
func formatError(path string, data []byte, found []string) error {
	holds := "no PEM block"
	if len(found) > 0 {
		holds = "only PEM blocks " + strings.Join(found, ", ")
	}
	inform := ""
	if len(found) == 0 && len(data) > 0 && data[0] == 0x30 { // an ASN.1 SEQUENCE: DER
		holds = "no PEM block (it looks like DER)"
		inform = " -inform DER"
	}
	return fmt.Errorf("%s: %w: it holds %s; want %s; convert a key with: openssl pkcs8 -topk8 -nocrypt%s -in %s -out %s.new && mv %s.new %s",
		path, ErrKeyFormat, holds, keyFormats, inform, path, path, path, path)
}

func encryptedError(path string) error {
	return fmt.Errorf("%s: %w; decrypt it (openssl asks for the passphrase) with: openssl pkey -in %s -out %s.new && mv %s.new %s, keep it at mode 0600, or keep the key in a PKCS #11 token instead",
		path, ErrEncryptedKey, path, path, path, path)
}
