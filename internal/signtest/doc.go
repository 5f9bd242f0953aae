// Package signtest runs this module's commands for tests, as a user runs
// them: it builds a command into a temporary directory (Build), and starts
// a server that says where it listens with a first line of output
// "listening on HOST:PORT" (asyncsignd serve, examples/keyless), stopping
// it when the test ends (Start).
//
// It is for tests only: its functions report through testing.TB.
package signtest
