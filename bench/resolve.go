// bench/resolve.go: Go's pure resolver, the third column of bench/resolve.lua
// (which builds and runs it inside its namespace). Arguments: lookups,
// in flight, round; prints lookups/s and CPU µs per lookup. Names are fresh absolute names under
// bench.test, distinct from lnet's by the round's prefix.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The process's CPU seconds, all threads.
func cpu() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func main() {
	lookups, _ := strconv.Atoi(os.Args[1])
	inflight, _ := strconv.Atoi(os.Args[2])
	round := os.Args[3]
	r := &net.Resolver{PreferGo: true}
	var left, failed int64 = int64(lookups), 0
	var wg sync.WaitGroup
	start, c0 := time.Now(), cpu()
	for i := 0; i < inflight; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := atomic.AddInt64(&left, -1)
				if n < 0 {
					return
				}
				name := "g" + round + "-" + strconv.FormatInt(n, 10) + ".bench.test."
				if _, err := r.LookupIP(context.Background(), "ip4", name); err != nil {
					atomic.AddInt64(&failed, 1)
				}
			}
		}()
	}
	wg.Wait()
	if failed > 0 {
		fmt.Println("failed", failed)
		os.Exit(1)
	}
	elapsed := time.Since(start).Seconds()
	fmt.Printf("%.0f %.2f\n", float64(lookups)/elapsed, (cpu()-c0)*1e6/float64(lookups))
}
