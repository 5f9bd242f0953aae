// Package enginetest checks that an async-aware engine keeps the contract
// of package engine, as testing/fstest.TestFS checks a file system: one
// call, [TestEngine], given a constructor of the engine under test, runs
// the contract end to end (every Notify mode, with package loop too on
// Linux; spurious resumes; async.StatusEAGAIN at the bound; a canceled
// job; a pool closed with jobs paused; a ctx deadline; callbacks that
// panic, call runtime.Goexit, or resume their own job; and no goroutine or
// fd left behind). Run it under -race.
//
// The suite sees the engine through an [Engine]: one operation (any of
// the engine's will do), a way to hold operations back so that jobs stay
// paused, and Close. A third engine runs it like this:
//
//	func TestConformance(t *testing.T) {
//		enginetest.TestEngine(t, func(t *testing.T, cfg enginetest.Config) *enginetest.Engine {
//			var gate enginetest.Gate
//			e, err := kms.New(kms.Config{Notify: cfg.Notify, MaxInFlight: cfg.Bound, Hook: gate.Wait})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return &enginetest.Engine{
//				Op: func(ctx context.Context) error {
//					_, err := e.Sign(ctx, key, digest)
//					return err
//				},
//				Hold:  gate.Hold,
//				Close: e.Close,
//			}
//		})
//	}
//
// Hold makes the engine keep the operations submitted from then on until
// the function it returns is called: a test hook in the engine's
// transport, or a server the test controls (the tests of offload and
// remote show both). [Gate] is a ready-made one for a transport that can
// call a function before it completes an operation.
//
// The smallest engine that passes, built on package engine with a queue
// and one goroutine for its transport, is in this package's toy_test.go.
package enginetest
