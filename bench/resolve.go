// bench/resolve.go: Go's pure resolver, the third column of bench/resolve.lua
// (which builds and runs it inside its namespace). Arguments: lookups,
// in flight, round; prints lookups/s. Names are fresh absolute names under
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
	"time"
)

func main() {
	lookups, _ := strconv.Atoi(os.Args[1])
	inflight, _ := strconv.Atoi(os.Args[2])
	round := os.Args[3]
	r := &net.Resolver{PreferGo: true}
	var left, failed int64 = int64(lookups), 0
	var wg sync.WaitGroup
	start := time.Now()
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
	fmt.Printf("%.0f\n", float64(lookups)/time.Since(start).Seconds())
}
