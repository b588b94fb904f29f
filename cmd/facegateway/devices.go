package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
)

const devicesUsage = `usage: facegateway devices <add|revoke|replace|list> [flags]

Manages the registry of kiosks allowed to submit (device signatures), in the
gateway's database; the gateway need not be stopped.

  add    -id ID -key BASE64 [-label TEXT]   register a device's public key
                                            (printed by "faceagent enroll --print")
  revoke -id ID                             refuse the device from now on
  replace -id ID -key BASE64                set a new public key for a registered
                                            device (lost key, new board or SD
                                            card) and lift its revocation
  list   [-json]                            list devices

Every command takes -config FILE (the [database] table is read from it,
with FACEGATEWAY_DATABASE_PASSWORD for PostgreSQL) or -db PATH (a SQLite
file).
`

// devicesMain implements `facegateway devices`.
func devicesMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, devicesUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd := args[0]
	fs := flag.NewFlagSet("devices "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "facegateway.toml", "gateway config file (for its [database] table)")
	dbPath := fs.String("db", "", "SQLite database (overrides -config)")
	id := fs.String("id", "", "device id")
	key := fs.String("key", "", "base64 Ed25519 public key (add, replace)")
	label := fs.String("label", "", "free text for operators (add)")
	asJSON := fs.Bool("json", false, "JSON output (list)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "facegateway devices %s: unexpected arguments %q\n", cmd, fs.Args())
		return 2
	}
	dbCfg := gateway.DatabaseConfig{Driver: gateway.DriverSQLite, Path: *dbPath}
	if *dbPath == "" {
		f, err := os.Open(*configPath)
		if err != nil {
			fmt.Fprintf(stderr, "facegateway devices: %v (or give -db)\n", err)
			return 2
		}
		cfg, err := gateway.DecodeConfig(f)
		f.Close()
		if err == nil {
			err = cfg.Database.ResolveSecrets(os.Getenv)
		}
		if err == nil {
			err = cfg.Database.Validate()
		}
		if err != nil {
			fmt.Fprintf(stderr, "facegateway devices: %s: %v\n", *configPath, err)
			return 2
		}
		dbCfg = cfg.Database
	}
	switch cmd {
	case "add", "revoke", "replace":
		needKey := cmd != "revoke"
		if *id == "" || (needKey && *key == "") {
			fmt.Fprintf(stderr, "facegateway devices %s: -id%s required\n", cmd, map[bool]string{true: " and -key are", false: " is"}[needKey])
			return 2
		}
	case "list":
	default:
		fmt.Fprintf(stderr, "facegateway devices: unknown command %q\n%s", cmd, devicesUsage)
		return 2
	}
	var dev gateway.Device
	if cmd == "add" || cmd == "replace" {
		var err error
		if dev, err = gateway.NewDevice(*id, *key, *label, time.Now().UTC()); err != nil {
			fmt.Fprintf(stderr, "facegateway devices %s: %v\n", cmd, err)
			return 2
		}
	}
	store, err := openStore(ctx, dbCfg)
	if err != nil {
		fmt.Fprintln(stderr, "facegateway devices:", err)
		return 1
	}
	defer store.Close()
	switch cmd {
	case "add":
		stored, created, err := store.AddDevice(ctx, dev)
		if errors.Is(err, gateway.ErrDeviceConflict) {
			fmt.Fprintf(stderr, "facegateway devices add: %s\n", gateway.DeviceConflictMessage(dev.ID, err))
			return 1
		}
		if err != nil {
			fmt.Fprintf(stderr, "facegateway devices add: %s: %v\n", dev.ID, err)
			return 1
		}
		state := "added"
		if !created {
			state = "already registered with this key"
		}
		fmt.Fprintf(stdout, "%s %s (%s)\n", stored.ID, state, api.KeyFingerprint(stored.PublicKey))
		if created {
			return auditOperator(ctx, store, stderr, gateway.AuditDeviceAdd, stored.ID, map[string]string{"fingerprint": api.KeyFingerprint(stored.PublicKey)})
		}
	case "revoke":
		d, err := store.RevokeDevice(ctx, *id, time.Now().UTC())
		if errors.Is(err, gateway.ErrNotFound) {
			fmt.Fprintf(stderr, "facegateway devices revoke: no device %q\n", *id)
			return 1
		}
		if err != nil {
			fmt.Fprintln(stderr, "facegateway devices revoke:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s revoked at %s\n", d.ID, d.RevokedAt.Format(time.RFC3339))
		return auditOperator(ctx, store, stderr, gateway.AuditDeviceRevoke, d.ID, nil)
	case "replace":
		d, err := store.ReplaceDevice(ctx, dev.ID, dev.PublicKey, dev.CreatedAt)
		if errors.Is(err, gateway.ErrNotFound) {
			fmt.Fprintf(stderr, "facegateway devices replace: no device %q (register it with `facegateway devices add`)\n", dev.ID)
			return 1
		}
		if err != nil {
			fmt.Fprintln(stderr, "facegateway devices replace:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s key replaced at %s (%s)\n", d.ID, d.ReplacedAt.Format(time.RFC3339), api.KeyFingerprint(d.PublicKey))
		return auditOperator(ctx, store, stderr, gateway.AuditDeviceReplace, d.ID, map[string]string{"fingerprint": api.KeyFingerprint(d.PublicKey)})
	case "list":
		devs, err := store.Devices(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "facegateway devices list:", err)
			return 1
		}
		return printDevices(stdout, devs, *asJSON)
	}
	return 0
}

// deviceJSON is one line of `devices list -json`.
type deviceJSON struct {
	ID          string     `json:"device_id"`
	PublicKey   string     `json:"public_key"`
	Fingerprint string     `json:"fingerprint"`
	Label       string     `json:"label,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	ReplacedAt  *time.Time `json:"replaced_at,omitempty"`
}

func printDevices(w io.Writer, devs []gateway.Device, asJSON bool) int {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, d := range devs {
			j := deviceJSON{ID: d.ID, PublicKey: base64.StdEncoding.EncodeToString(d.PublicKey), Fingerprint: api.KeyFingerprint(d.PublicKey), Label: d.Label, CreatedAt: d.CreatedAt}
			if d.Revoked() {
				t := d.RevokedAt
				j.RevokedAt = &t
			}
			if !d.ReplacedAt.IsZero() {
				t := d.ReplacedAt
				j.ReplacedAt = &t
			}
			enc.Encode(j)
		}
		return 0
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tSTATE\tFINGERPRINT\tCREATED\tLABEL")
	for _, d := range devs {
		state := "active"
		if d.Revoked() {
			state = "revoked " + d.RevokedAt.Format(time.DateOnly)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, state, api.KeyFingerprint(d.PublicKey), d.CreatedAt.Format(time.RFC3339), d.Label)
	}
	tw.Flush()
	return 0
}
