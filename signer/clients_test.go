package signer

import (
	"sync"
	"testing"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// testClients are the client identities tests made in testDir, by name:
// AddClient refuses a name twice, and tests share names.
var testClients = struct {
	sync.Mutex
	dirs  map[string]string
	conns map[[2]string]pb.SignerClient // by server address and name
}{dirs: make(map[string]string), conns: make(map[[2]string]pb.SignerClient)}

// dialAs connects to sv as a client of its own identity, named cn, which
// the deployment's client CA issues (AddClient) the first time it is
// asked for. Callers of one name share one connection, as a client's
// callers do: a burst of connections beyond the server's bound on
// handshakes in progress would have the oldest closed.
func dialAs(t testing.TB, sv *served, cn string) pb.SignerClient {
	t.Helper()
	testClients.Lock()
	if c, ok := testClients.conns[[2]string{sv.addr, cn}]; ok {
		testClients.Unlock()
		return c
	}
	dir, ok := testClients.dirs[cn]
	if !ok {
		var err error
		if dir, err = AddClient(testDir, cn); err != nil {
			testClients.Unlock()
			t.Fatal(err)
		}
		testClients.dirs[cn] = dir
	}
	c := dialDir(t, sv, dir)
	key := [2]string{sv.addr, cn}
	testClients.conns[key] = c
	testClients.Unlock()
	t.Cleanup(func() { // the connection closes with t
		testClients.Lock()
		delete(testClients.conns, key)
		testClients.Unlock()
	})
	return c
}
