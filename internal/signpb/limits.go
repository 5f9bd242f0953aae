package signpb

// MaxMessage is the longest payload (an Ed25519 message) the protocol
// carries, in bytes: the signer refuses longer ones (CODE_BAD_REQUEST) and
// the client refuses to send them. Both ends use this one definition.
const MaxMessage = 64 << 10
