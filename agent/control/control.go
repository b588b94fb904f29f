package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/uplink/mqtt"
)

// Command is one entry of the agent's command table: what it does, and
// where it is served. A command with a Path is an HTTP route of the
// loopback API, one with a Name an MQTT command; verify and cancel are
// both.
type Command struct {
	// Name is the MQTT command name (mqttapi.CmdVerify, ...); "" serves the
	// command on HTTP only.
	Name string
	// Method and Path are the HTTP route ("POST", "/v1/verify"); "" serves
	// the command on MQTT only.
	Method, Path string
	// Status is the HTTP status of a success (http.StatusOK when 0).
	Status int
	// Location, when set, is the Location header of an HTTP success.
	Location string
	// MaxBody bounds an HTTP request body, bytes (MaxLaunchBytes when 0);
	// a longer one is refused with 413 too_large.
	MaxBody int64
	// ResultKey, when set, wraps the MQTT result in an object under this
	// key ({"session": …}); the HTTP body is the result itself.
	ResultKey string
	// Run performs the command. Its error is mapped by FailureOf.
	Run func(ctx context.Context, in Input) (result any, err error)
}

// Input is a command's request as either transport delivers it.
type Input struct {
	// Body is the JSON body: the HTTP request body, or the signed MQTT
	// command body ({} for a Home Assistant button).
	Body []byte
	// MQTT is true for a command that came over MQTT.
	MQTT bool
	// RequestID is the MQTT command's request id ("" over HTTP).
	RequestID string
	// Source is where an MQTT command came from (mqttapi.Command.Source).
	Source string
}

// Failure is a refused or failed command as both transports report it.
type Failure struct {
	Code    string // "bad_request", "busy", "no_session", "shutting_down", "internal", ...
	Message string
	Field   string // the offending JSON field, if any
	// HTTPStatus is the loopback API's status for it.
	HTTPStatus int
}

// FailureOf is the one mapping from a command's error to its reply:
//   - *RequestError: its code and field, with 400 for bad_request, 409
//     for busy and no_session (404 for ErrNoSessionYet), 503 for
//     shutting_down, 400 otherwise;
//   - context.Canceled or DeadlineExceeded (the agent did not answer in
//     time): busy, 503;
//   - anything else: internal, 500.
func FailureOf(err error) Failure {
	var re *RequestError
	if errors.As(err, &re) {
		f := Failure{Code: re.Code, Message: re.Error(), Field: re.Field, HTTPStatus: http.StatusBadRequest}
		switch {
		case re == ErrNoSessionYet:
			f.HTTPStatus = http.StatusNotFound
		case re.Code == "busy", re.Code == "no_session":
			f.HTTPStatus = http.StatusConflict
		case re.Code == "shutting_down":
			f.HTTPStatus = http.StatusServiceUnavailable
		}
		return f
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Failure{Code: "busy", Message: "the agent did not answer in time", HTTPStatus: http.StatusServiceUnavailable}
	}
	return Failure{Code: "internal", Message: err.Error(), HTTPStatus: http.StatusInternalServerError}
}

// ErrorPayload is the error body of the HTTP API and MQTT replies, in the
// gateway's api.Error shape plus the offending field.
type ErrorPayload struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// WriteJSON writes v as the JSON body with status code, uncached.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// WriteError writes an ErrorPayload with status code.
func WriteError(w http.ResponseWriter, code int, errCode, msg, field string) {
	WriteJSON(w, code, ErrorPayload{Code: errCode, Message: msg, Field: field})
}

// Mount registers the commands that have a Path on mux. A request body
// over the command's MaxBody is refused with 413 too_large; an error of
// Run is written as ErrorPayload with FailureOf's status.
func Mount(mux *http.ServeMux, cmds []Command) {
	for _, c := range cmds {
		if c.Path == "" {
			continue
		}
		mux.HandleFunc(c.Method+" "+c.Path, c.serveHTTP)
	}
}

func (c Command) serveHTTP(w http.ResponseWriter, r *http.Request) {
	limit := c.MaxBody
	if limit <= 0 {
		limit = MaxLaunchBytes
	}
	var body []byte
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				WriteError(w, http.StatusRequestEntityTooLarge, "too_large", "body larger than "+sizeText(limit), "")
				return
			}
			WriteError(w, http.StatusBadRequest, "bad_request", "cannot read body", "")
			return
		}
	}
	res, err := c.Run(r.Context(), Input{Body: body})
	if err != nil {
		f := FailureOf(err)
		WriteJSON(w, f.HTTPStatus, ErrorPayload{Code: f.Code, Message: f.Message, Field: f.Field})
		return
	}
	if c.Location != "" {
		w.Header().Set("Location", c.Location)
	}
	status := c.Status
	if status == 0 {
		status = http.StatusOK
	}
	WriteJSON(w, status, res)
}

// sizeText writes a byte count as KiB when it is a whole number of them.
func sizeText(n int64) string {
	if n%1024 == 0 {
		return strconv.FormatInt(n/1024, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// Registrar is where MQTT commands are registered (*mqtt.Client).
type Registrar interface {
	HandleCommand(name string, h mqtt.Handler)
}

// Register registers the commands that have a Name on r. A refusal is
// logged at warn with the request id, code and message (never the body).
func Register(r Registrar, cmds []Command, log *slog.Logger) {
	for _, c := range cmds {
		if c.Name == "" {
			continue
		}
		r.HandleCommand(c.Name, c.MQTTHandler(log))
	}
}

// MQTTHandler is the command as an MQTT command handler.
func (c Command) MQTTHandler(log *slog.Logger) mqtt.Handler {
	return func(ctx context.Context, cmd mqttapi.Command) mqttapi.Reply {
		res, err := c.Run(ctx, Input{Body: cmd.Body, MQTT: true, RequestID: cmd.RequestID, Source: cmd.Source})
		if err != nil {
			f := FailureOf(err)
			if log != nil {
				log.Warn(c.Name+" command refused", "request_id", cmd.RequestID, "code", f.Code, "err", f.Message)
			}
			return mqttapi.Reply{RequestID: cmd.RequestID, Error: &mqttapi.ReplyError{Code: f.Code, Message: f.Message, Field: f.Field}}
		}
		if c.ResultKey != "" {
			res = map[string]any{c.ResultKey: res}
		}
		r := mqttapi.ResultReply(res)
		r.RequestID = cmd.RequestID
		return r
	}
}
