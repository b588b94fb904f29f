package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/faceverify/faceverify/gateway"
)

const auditUsage = `usage: facegateway audit list [-verify] [-json] [-after SEQ] [-limit N] [-config FILE | -db PATH]

Prints the gateway's append-only audit log: partner and user token
issuance, detail reads, user erasures, retention purges and operator
commands. Rows name users only by a keyed reference (audit.key), never by
id, and hold no tokens or passkeys.

  -verify   check the whole hash chain (each row holds the previous row's
            hash); prints the row count and the head hash, exit 1 when a
            row was altered, removed or inserted. Keep the head hash
            somewhere else to detect a truncated tail later.
`

// auditPage is how many rows are read at a time.
const auditPage = 1000

// auditMain implements `facegateway audit`.
func auditMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "list" {
		fmt.Fprint(stderr, auditUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	fs := flag.NewFlagSet("audit list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, auditUsage); fs.PrintDefaults() }
	configPath := fs.String("config", "facegateway.toml", "gateway config file (for its [database] table)")
	dbPath := fs.String("db", "", "SQLite database (overrides -config)")
	verify := fs.Bool("verify", false, "verify the hash chain of the whole log")
	asJSON := fs.Bool("json", false, "one JSON object per row")
	after := fs.Int64("after", 0, "list rows after this seq")
	limit := fs.Int("limit", 0, "list at most this many rows (0: all)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "facegateway audit list: unexpected arguments %q\n", fs.Args())
		return 2
	}
	dbCfg, err := databaseConfig(*configPath, *dbPath)
	if err != nil {
		fmt.Fprintf(stderr, "facegateway audit: %v\n", err)
		return 2
	}
	store, err := openStore(ctx, dbCfg)
	if err != nil {
		fmt.Fprintln(stderr, "facegateway audit:", err)
		return 1
	}
	defer store.Close()
	if *verify {
		var v gateway.AuditVerifier
		for seq := int64(0); ; {
			page, err := store.AuditLog(ctx, seq, auditPage)
			if err != nil {
				fmt.Fprintln(stderr, "facegateway audit list:", err)
				return 1
			}
			if len(page) == 0 {
				break
			}
			if err := v.Next(page); err != nil {
				fmt.Fprintf(stderr, "facegateway audit list: %v (after %d good rows)\n", err, v.Count)
				return 1
			}
			seq = page[len(page)-1].Seq
		}
		fmt.Fprintf(stdout, "audit log verified: %d rows, head %s\n", v.Count, hex.EncodeToString(v.Head))
		return 0
	}
	var tw *tabwriter.Writer
	enc := json.NewEncoder(stdout)
	if !*asJSON {
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tAT\tACTOR\tACTION\tSUBJECT\tDETAIL")
		defer tw.Flush()
	}
	printed := 0
	for seq := *after; *limit == 0 || printed < *limit; {
		n := auditPage
		if *limit > 0 {
			n = min(n, *limit-printed)
		}
		page, err := store.AuditLog(ctx, seq, n)
		if err != nil {
			fmt.Fprintln(stderr, "facegateway audit list:", err)
			return 1
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if *asJSON {
				enc.Encode(auditJSON{Seq: e.Seq, At: e.At, Actor: e.Actor, Action: e.Action, Subject: e.Subject,
					Detail: json.RawMessage(orNull(e.Detail)), PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash)})
			} else {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.Format(time.RFC3339), e.Actor, e.Action, e.Subject, e.Detail)
			}
		}
		printed += len(page)
		seq = page[len(page)-1].Seq
	}
	return 0
}

// auditJSON is one line of `audit list -json`.
type auditJSON struct {
	Seq      int64           `json:"seq"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Subject  string          `json:"subject,omitempty"`
	Detail   json.RawMessage `json:"detail"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

func orNull(s string) string {
	if s == "" {
		return "null"
	}
	return s
}

// databaseConfig is the [database] table of the config file at
// configPath (secrets resolved, validated), or the SQLite file dbPath
// when set.
func databaseConfig(configPath, dbPath string) (gateway.DatabaseConfig, error) {
	if dbPath != "" {
		return gateway.DatabaseConfig{Driver: gateway.DriverSQLite, Path: dbPath}, nil
	}
	f, err := os.Open(configPath)
	if err != nil {
		return gateway.DatabaseConfig{}, fmt.Errorf("%w (or give -db)", err)
	}
	defer f.Close()
	cfg, err := gateway.DecodeConfig(f)
	if err == nil {
		err = cfg.Database.ResolveSecrets(os.Getenv)
	}
	if err == nil {
		err = cfg.Database.Validate()
	}
	if err != nil {
		return gateway.DatabaseConfig{}, fmt.Errorf("%s: %w", configPath, err)
	}
	return cfg.Database, nil
}

// operator names the person running a command in the audit log: the OS
// account (or $USER when it cannot be looked up).
func operator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "operator:" + u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return "operator:" + u
	}
	return "operator:unknown"
}

// auditOperator records an operator command; a failure is reported (the
// command already took effect) and makes the command exit 1.
func auditOperator(ctx context.Context, store gateway.Store, stderr io.Writer, action, subject string, detail any) int {
	d := ""
	if detail != nil {
		b, _ := json.Marshal(detail)
		d = string(b)
	}
	if _, err := store.AppendAudit(ctx, gateway.AuditEntry{At: time.Now(), Actor: operator(), Action: action, Subject: subject, Detail: d}); err != nil {
		fmt.Fprintf(stderr, "facegateway: %s done but not recorded in the audit log: %v\n", action, err)
		return 1
	}
	return 0
}
