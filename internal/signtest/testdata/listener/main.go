// Command listener is the server signtest's tests start: it listens on
// 127.0.0.1:0, says so as asyncsignd does, and exits 0 on SIGTERM.
// -first replaces the first line; -exit N exits with status N at once.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	first := flag.String("first", "", "say this instead of the listening line")
	exit := flag.Int("exit", -1, "exit with this status before listening")
	flag.Parse()
	fmt.Fprintln(os.Stderr, "listener starting")
	if *exit >= 0 {
		os.Exit(*exit)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer lis.Close()
	if *first != "" {
		fmt.Println(*first)
	} else {
		// One write for two lines: Stdout must get the second even when
		// it arrives with the first.
		fmt.Printf("listening on %s\nthen more\n", lis.Addr())
	}
	<-sig
}
