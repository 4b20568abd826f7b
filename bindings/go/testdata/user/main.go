// A program using the module as a user outside the repository would: scripts/test-bindings.sh (suite
// go-module) copies it into a fresh module and builds it through pkg-config only.
// Usage: user ETCD_URL ROWS
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	linstordb "github.com/linstor-db/linstor-db/bindings/go"
)

func main() {
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(etcd, rowsArg string) error {
	rows, err := strconv.ParseUint(rowsArg, 10, 64)
	if err != nil {
		return err
	}
	fmt.Println("version:", linstordb.Version())
	db, err := linstordb.New(linstordb.Config{})
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	generated, err := db.Generate(ctx, etcd, rows, 1, "", &linstordb.JobOptions{Replace: true})
	if err != nil {
		return err
	}
	info, err := db.Info(ctx, etcd)
	if err != nil {
		return err
	}
	fmt.Printf("rows: generated %d, info %d\n", generated.Rows, info.Rows)
	return nil
}
