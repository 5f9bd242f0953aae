package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// oldClientKeys are two test keys, fixed so that a request encoded once
// can name them: an ECDSA P-256 key and an RSA-2048 one, PKCS #8 PEM.
// Test keys only: they guard nothing.
const oldClientKeys = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQ09Z5JLTMYo2mgtc
GYFFHzXX8KBKK/xtiezp81AO3BWhRANCAAQUfp8vDWjnXeGl+iIFBuCeSGYNoTxF
mnF2xjtzwl5RPvLqdC8LwZJAtPp9ZmtFuPO2a9YsMTFc2b1488Hd5HLd
-----END PRIVATE KEY-----
-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCWsrZBd2v0hGXZ
EER5ajsjxHUonbt8CpF1evpNMRNp8QoRfFE3XtMPBDGGMJ3FF2YD9BRtDF/ALhhn
hywDbxB8snjV3Q6NbXHogdUp8sm2QJGulNtHMpbJV/mpUfc49o6Ry9bVRagOuQVA
cb8a1HxYYaAVgBrfF6ap/GwfA1FgrKdH7iiDWGlYGPOrtb1nLAnwR2c273nqE+zr
fcj908aPam78h7oI/TwTVl+71Yh/1ab4C0C7dK0asUMhMduIUZEtve3JcuF9S9eK
pH3GP5t202xTnKrMH5zLYKU5E1mm+I4Uh7X3DVfdln1eiabuR68KlPJuKOun87+S
p8udUbXxAgMBAAECggEAIBNy+rVOG7IwsYamZIeJhf/zhg0o0mq3cl+WNmb7QGIH
aBhjexsqZnhYiD0B3+kulCnYTSvEl7XYCPU7F5IE2t3sHW1bgxvoEnrMIg0lBS9y
MsxJbjqk4L9iizlAm3XTe9H87NFSR6v3I7PyXuYaf39sIRdu4Mx6c5UgeGtu31oc
8q6sNMtB1NBBTE6aMOue04MDkkAtJTLbk2C5sEvI++mI6x9udgaRbL52wQJHY/j5
4n7iQtOGEpoH1i6mrj97Uckyig3GYL1pa/UbTpwdf7ZE+dxEHIXCBCTMwVDDx2f8
O9C8QHCZjTKLtuBjuoJrghNamsGokzy4YazJPpFmnwKBgQDBI/aw4a4JiUdqC3Vf
2EE2k7UH2KVmJnjLyE1n3ZxIUO1E7FEcf542lVwneMhMyA2otXBLNN+V1YD0nYvA
bUMIcFKCU3+jN1frpP31b7OOrVa2MSXXHqIsGa/t13Hakrq9BQF3WYDILQ+otfcM
pykJsq84W+Bz32346RSL+T4KGwKBgQDHvorom0LpvVPaPFFjC4oWkrQjdntYRilS
/sqnTZxXR4SJJEZVDnfHcp6gG1G3HI3UVfPVKt0M9EXx2f6sut8VgzUAGPIyzZPK
i3yvc4IAEoXY5mJ+U6tBSvy4/oVe0DJoin3waiqbrVTn65UwNvxT1VqD3fT6nbFl
dqLp1thA4wKBgFh/8DQQ1TyNaOnQolHut8MYX6VewjtSeZt3BvEG/OuuGWqxlmEm
oQqF2hpEIBP+vzOFIBV1/tWbZWGxJy5fYo3lWglZ1WymmWTiz3O9YVuJVehaEOrH
oKvwgUrMo+DxxxuBxbA4lOgkrb4y0yc7GXTWKa/7eZfe03dw5fdVl/XtAoGBAIno
RH/Usp4u2XYTrx1zGiP7pePWKdMInf9vavuX2hloh1kocmbHVmud92cTdZe3XzT7
Ix5KOdR30tLob61SWDPCIxWuI4pv5VoydCOu3FKwdzkJ13bgzZyG6XXQRMTxedwz
wj/7DO/u/HAjdx2S2SQIajYhSMK/nXswLcrFSwmBAoGAWUTu1duGes8XVefjNEWD
ApA15gip+pgYzz3rcXRmLgkojhniA6B72IldlqFksti34gAlePCuNRolcSkSeWqD
nU9f8b7tTUXwx8Zhm8JhTOPjdYdQ+JW9CekvcRptbpojnz7DJJlw/47v2c7KzK7S
NGoYo2ksCNeA4KLuJx3Mhkg=
-----END PRIVATE KEY-----
`

// oldClientBatch is a RequestBatch as the client before the SHA-384 and
// SHA-512 schemes marshalled it (its generated code, the wire's four
// algorithms): request 1, ECDSA_P256_SHA256 with oldClientKeys' P-256
// key over SHA-256("an old client's ECDSA request"); request 2,
// RSA_PSS_SHA256 with the RSA key over SHA-256("an old client's RSA-PSS
// request"). Its key IDs are 448a4345a640239f7f00ef09d13f8ef78101a39042a2029002469b7eb0da9e8f
// and 5e434118d14eee5fb5e7356af5e95d11b1c373f893fb9234b62cb1b3d4983d8d.
const oldClientBatch = "" +
	"0a68080112403434386134333435613634303233396637663030656630396431" +
	"3366386566373831303161333930343261323032393030323436396237656230" +
	"646139653866180122202097e4ccf75759db1df504e7e9f8dfd932b3dd993d42" +
	"6d95980a78d577591efd0a680802124035653433343131386431346565653566" +
	"6235653733353661663565393564313162316333373366383933666239323334" +
	"623632636231623364343938336438641804222016187991dd89ec10148f9628" +
	"d67af2b6fe5cb43b847d2e50c8c5c83d1e28630f"

// fixedKeys is a KeyStore of the keys in a PEM text.
type fixedKeys []Key

func (f fixedKeys) Keys() ([]Key, error) { return f, nil }

func parseFixedKeys(t *testing.T, text string) fixedKeys {
	t.Helper()
	var keys fixedKeys
	for rest := []byte(text); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, Key{Name: "old" + string(rune('0'+len(keys))), Signer: k.(crypto.Signer)})
	}
	return keys
}

// TestOldClientRequest: a signer that knows the SHA-384 and SHA-512
// schemes still answers a batch exactly as a client built before them
// encoded it, byte for byte, with signatures that verify (the wire
// protocol grew compatibly: item 1 of keyless for real sites).
func TestOldClientRequest(t *testing.T) {
	keys := parseFixedKeys(t, oldClientKeys)
	if len(keys) != 2 {
		t.Fatalf("%d fixed keys, want 2", len(keys))
	}
	raw, err := hex.DecodeString(oldClientBatch)
	if err != nil {
		t.Fatal(err)
	}
	sv := serve(t, Config{Keys: keys})
	desc := &grpc.StreamDesc{StreamName: "Sign", ServerStreams: true, ClientStreams: true}
	st, err := sv.conn.NewStream(testContext(t), desc, pb.Signer_Sign_FullMethodName, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(raw); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]*pb.SignResult{}
	for len(got) < 2 {
		var msg []byte
		if err := st.RecvMsg(&msg); err != nil {
			t.Fatalf("after %d results: %v", len(got), err)
		}
		var b pb.ResultBatch
		if err := proto.Unmarshal(msg, &b); err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Results {
			got[r.Id] = r
		}
	}
	ec, rk := keys[0].Signer.Public().(*ecdsa.PublicKey), keys[1].Signer.Public().(*rsa.PublicKey)
	d1 := sha256.Sum256([]byte("an old client's ECDSA request"))
	d2 := sha256.Sum256([]byte("an old client's RSA-PSS request"))
	if r := got[1]; r == nil || r.Code != pb.Code_CODE_OK || !ecdsa.VerifyASN1(ec, d1[:], r.Signature) {
		t.Errorf("ECDSA_P256_SHA256 request: %v", r)
	}
	if r := got[2]; r == nil || r.Code != pb.Code_CODE_OK ||
		rsa.VerifyPSS(rk, crypto.SHA256, d2[:], r.Signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) != nil {
		t.Errorf("RSA_PSS_SHA256 request: %v", r)
	}
}
