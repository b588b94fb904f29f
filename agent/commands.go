package agent

import (
	"context"
	"net/http"

	"github.com/faceverify/faceverify/agent/control"
	"github.com/faceverify/faceverify/gateway/mqttapi"
)

// commands is the agent's command table, served on the loopback HTTP API
// (control.Mount: the entries with a Path) and as MQTT commands
// (control.Register: the entries with a Name); errors map to replies
// through control.FailureOf on both. o configures the MQTT-only commands.
func (a *Agent) commands(o FleetOptions) []control.Command {
	return []control.Command{
		{
			// A launch body (control.DecodeLaunch) → 202 SessionView; over
			// MQTT the signed body, request_id taken from the command.
			Name: mqttapi.CmdVerify, Method: http.MethodPost, Path: "/v1/verify",
			Status: http.StatusAccepted, Location: "/v1/session", ResultKey: "session",
			Run: func(ctx context.Context, in control.Input) (any, error) {
				req, err := control.DecodeLaunch(in.Body)
				if err != nil {
					return nil, err
				}
				if in.MQTT {
					req.RequestID = in.RequestID
				}
				return a.Launch(ctx, req)
			},
		},
		{
			Name: mqttapi.CmdCancel, Method: http.MethodPost, Path: "/v1/cancel", ResultKey: "session",
			Run: func(ctx context.Context, _ control.Input) (any, error) { return a.Cancel(ctx) },
		},
		{
			Method: http.MethodGet, Path: "/v1/session",
			Run: func(context.Context, control.Input) (any, error) {
				v, ok := a.Session()
				if !ok {
					return nil, control.ErrNoSessionYet
				}
				return v, nil
			},
		},
		{
			// The current or last session's timeline (timeline.go): loopback only.
			Method: http.MethodGet, Path: "/v1/session/timeline",
			Run: func(context.Context, control.Input) (any, error) {
				tl, ok := a.Timeline()
				if !ok {
					return nil, control.ErrNoSessionYet
				}
				return tl, nil
			},
		},
		{
			Name: mqttapi.CmdIdentify,
			Run:  func(_ context.Context, in control.Input) (any, error) { return a.fleetIdentify(in, o) },
		},
		{
			Name: mqttapi.CmdSelfTest,
			Run:  func(ctx context.Context, _ control.Input) (any, error) { return a.fleetSelfTest(ctx, o), nil },
		},
		{
			Name: mqttapi.CmdReloadConfig,
			Run:  func(context.Context, control.Input) (any, error) { return a.fleetReload(o) },
		},
	}
}
