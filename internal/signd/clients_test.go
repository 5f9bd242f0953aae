package signd

import (
	"sync"
	"testing"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// testClients are the client identities tests made in testDir, by name:
// AddClient refuses a name twice, and tests share names.
var testClients = struct {
	sync.Mutex
	dirs map[string]string
}{dirs: make(map[string]string)}

// dialAs connects to sv as a client of its own identity, named cn, which
// the deployment's client CA issues (AddClient) the first time it is
// asked for.
func dialAs(t testing.TB, sv *served, cn string) pb.SignerClient {
	t.Helper()
	testClients.Lock()
	dir, ok := testClients.dirs[cn]
	if !ok {
		var err error
		if dir, err = AddClient(testDir, cn); err != nil {
			testClients.Unlock()
			t.Fatal(err)
		}
		testClients.dirs[cn] = dir
	}
	testClients.Unlock()
	return dialDir(t, sv, dir)
}
