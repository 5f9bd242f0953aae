//go:build race

package loop

// raceBuild says the tests run under the race detector, whose
// instrumentation of the standard library allocates where a plain build
// does not.
const raceBuild = true
