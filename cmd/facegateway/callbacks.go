package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/faceverify/faceverify/gateway"
	"github.com/faceverify/faceverify/gateway/api"
)

const callbacksUsage = `usage: facegateway callbacks <list|redeliver> [flags]

Inspects and re-queues the completion callbacks of the gateway's outbox, in
its database (SQLite or PostgreSQL); the gateway need not be stopped.
Delivery is at least once: partners de-duplicate by delivery id.

  list      [-partner ID] [-state pending|delivered|failed] [-limit N] [-json]
            [-show-user]
            newest first: id, delivery id, partner, event, state, attempts,
            last error, times and the flow's correlation id; the partner
            user id only with -show-user
  redeliver -delivery DELIVERY_ID
            queue the callback again, now, with the same delivery id and
            body (e.g. after a partner outage outlasted the retries, or a
            partner lost what it received); signed afresh at delivery

Every command takes -config FILE (the [database] table is read from it,
with FACEGATEWAY_DATABASE_PASSWORD for PostgreSQL) or -db PATH (a SQLite
file).
`

// callbacksMain implements `facegateway callbacks`.
func callbacksMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, callbacksUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd := args[0]
	fs := flag.NewFlagSet("callbacks "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "facegateway.toml", "gateway config file (for its [database] table)")
	dbPath := fs.String("db", "", "SQLite database (overrides -config)")
	partner := fs.String("partner", "", "only this partner's callbacks (list)")
	state := fs.String("state", "", "only callbacks in this state: pending, delivered or failed (list)")
	limit := fs.Int("limit", 50, "at most this many callbacks, newest first (list)")
	asJSON := fs.Bool("json", false, "one JSON object per line (list)")
	showUser := fs.Bool("show-user", false, "include the partner user id from the callback body (list)")
	delivery := fs.String("delivery", "", "delivery id of the callback to queue again (redeliver)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "facegateway callbacks %s: unexpected arguments %q\n", cmd, fs.Args())
		return 2
	}
	switch cmd {
	case "list":
		switch *state {
		case "", gateway.CallbackPending, gateway.CallbackDelivered, gateway.CallbackFailed:
		default:
			fmt.Fprintf(stderr, "facegateway callbacks list: -state must be pending, delivered or failed, got %q\n", *state)
			return 2
		}
		if *limit < 1 {
			fmt.Fprintf(stderr, "facegateway callbacks list: -limit must be ≥ 1, got %d\n", *limit)
			return 2
		}
	case "redeliver":
		if *delivery == "" {
			fmt.Fprintln(stderr, "facegateway callbacks redeliver: -delivery is required (the delivery id shown by `callbacks list`)")
			return 2
		}
	default:
		fmt.Fprintf(stderr, "facegateway callbacks: unknown command %q\n%s", cmd, callbacksUsage)
		return 2
	}
	dbCfg, auditKey, err := databaseConfig(*configPath, *dbPath) // audit.go
	if err != nil {
		fmt.Fprintf(stderr, "facegateway callbacks: %v\n", err)
		return 2
	}
	store, err := openStore(ctx, dbCfg)
	if err != nil {
		fmt.Fprintln(stderr, "facegateway callbacks:", err)
		return 1
	}
	defer store.Close()
	switch cmd {
	case "list":
		cbs, err := store.Callbacks(ctx, gateway.CallbackFilter{PartnerID: *partner, State: *state, Limit: *limit})
		if err != nil {
			fmt.Fprintln(stderr, "facegateway callbacks list:", err)
			return 1
		}
		printCallbacks(stdout, cbs, *asJSON, *showUser)
		if *showUser { // partner user ids were shown to an operator
			return auditOperator(ctx, store, auditKey, stderr, gateway.AuditCallbackUsers, "", map[string]any{"partner": *partner, "state": *state, "rows": len(cbs)})
		}
	case "redeliver":
		c, err := store.RedeliverCallback(ctx, *delivery, time.Now().UTC())
		if errors.Is(err, gateway.ErrNotFound) {
			fmt.Fprintf(stderr, "facegateway callbacks redeliver: no callback with delivery id %q\n", *delivery)
			return 1
		}
		if errors.Is(err, gateway.ErrCallbackPurged) {
			fmt.Fprintf(stderr, "facegateway callbacks redeliver: %s: its body was emptied by the retention purge; the partner reads the flow's details instead\n", *delivery)
			return 1
		}
		if err != nil {
			fmt.Fprintln(stderr, "facegateway callbacks redeliver:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s queued again (callback %d, partner %s, event %s, redelivery %d)\n",
			c.DeliveryID, c.ID, c.PartnerID, c.Event, c.Redeliveries)
		return auditOperator(ctx, store, auditKey, stderr, gateway.AuditCallbackRedeliver, c.DeliveryID, map[string]any{"partner": c.PartnerID, "event": c.Event})
	}
	return 0
}

// callbackJSON is one line of `callbacks list -json`.
type callbackJSON struct {
	ID            int64      `json:"id"`
	DeliveryID    string     `json:"delivery_id"`
	PartnerID     string     `json:"partner_id"`
	Event         string     `json:"event"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	Redeliveries  int        `json:"redeliveries"`
	LastError     string     `json:"last_error,omitempty"`
	CorrelationID string     `json:"correlation_id,omitempty"`
	Status        string     `json:"status,omitempty"`
	PartnerUserID string     `json:"partner_user_id,omitempty"` // only with -show-user
	CreatedAt     time.Time  `json:"created_at"`
	NextAt        *time.Time `json:"next_at,omitempty"` // while pending
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
}

func toCallbackJSON(c gateway.CallbackRecord, showUser bool) callbackJSON {
	j := callbackJSON{ID: c.ID, DeliveryID: c.DeliveryID, PartnerID: c.PartnerID, Event: c.Event, State: c.State,
		Attempts: c.Attempts, Redeliveries: c.Redeliveries, LastError: c.LastError, CreatedAt: c.CreatedAt}
	var body api.Callback
	if json.Unmarshal(c.Body, &body) == nil {
		j.CorrelationID, j.Status = body.CorrelationID, body.Status
		if showUser {
			j.PartnerUserID = body.PartnerUserID
		}
	}
	if c.State == gateway.CallbackPending && !c.NextAt.IsZero() {
		t := c.NextAt
		j.NextAt = &t
	}
	if !c.DeliveredAt.IsZero() {
		t := c.DeliveredAt
		j.DeliveredAt = &t
	}
	return j
}

func printCallbacks(w io.Writer, cbs []gateway.CallbackRecord, asJSON, showUser bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, c := range cbs {
			enc.Encode(toCallbackJSON(c, showUser))
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	hdr := "ID\tDELIVERY\tPARTNER\tEVENT\tSTATE\tATTEMPTS\tCREATED\tNEXT/DELIVERED\tCORRELATION\tSTATUS"
	if showUser {
		hdr += "\tUSER"
	}
	fmt.Fprintln(tw, hdr+"\tLAST ERROR")
	for _, c := range cbs {
		j := toCallbackJSON(c, showUser)
		when := "-"
		switch {
		case j.DeliveredAt != nil:
			when = j.DeliveredAt.Format(time.RFC3339)
		case j.NextAt != nil:
			when = j.NextAt.Format(time.RFC3339)
		}
		attempts := fmt.Sprint(j.Attempts)
		if j.Redeliveries > 0 {
			attempts += fmt.Sprintf(" (redelivered %d)", j.Redeliveries)
		}
		line := fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", j.ID, j.DeliveryID, j.PartnerID, dash(j.Event), j.State, attempts,
			j.CreatedAt.Format(time.RFC3339), when, dash(j.CorrelationID), dash(j.Status))
		if showUser {
			line += "\t" + dash(j.PartnerUserID)
		}
		fmt.Fprintln(tw, line+"\t"+dash(truncateLine(j.LastError, 80)))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// truncateLine keeps an error on one line of at most n bytes.
func truncateLine(s string, n int) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\t' {
			s = s[:i]
			break
		}
	}
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
