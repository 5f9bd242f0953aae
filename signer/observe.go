package signer

// The seams through which the server's logs and metrics learn of what
// happens: one method an event, called by the code where it happens.

// noteReload is told of each reload: err is nil when it took effect,
// or why the old configuration stays in force.
func (s *Server) noteReload(err error) { _ = err }

// noteDenied is told of each request refused by the policy: the client's
// identity and the key's name (both bounded: names the server holds, not
// strings a client chose).
func (s *Server) noteDenied(client, keyName string) { _, _ = client, keyName }
