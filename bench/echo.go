// echo.go: an optional third column for bench/run, the idiomatic Go echo.
//
// One goroutine per connection, blocking Read/Write on a 64 KiB buffer
// (the same read size as echo_ev). Not io.Copy: between two TCP conns it
// takes the splice path, which no other server here gets. The per-conn
// buffer is what a plain Go server pays, so it shows in the idle figure.
//
// Usage: echo_go [host:port]; prints "listening HOST:PORT", exits on
// SIGTERM or SIGINT. bench/run builds it with `go build` when go exists.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	addr := "127.0.0.1:0"
	if len(os.Args) > 2 {
		fmt.Fprintln(os.Stderr, "usage: echo_go [host:port]")
		os.Exit(2)
	}
	if len(os.Args) == 2 {
		addr = os.Args[1]
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo_go:", err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", ln.Addr())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		ln.Close()
		os.Exit(0)
	}()

	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go serve(c)
	}
}
