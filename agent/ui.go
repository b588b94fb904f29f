package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/faceverify/faceverify/agent/control"
	"github.com/faceverify/faceverify/agent/session"
	"github.com/faceverify/faceverify/agent/ui"
	"github.com/faceverify/faceverify/capture"
)

// uiState is what the kiosk screens need beside the session view: the
// current launch's theme and locale, a broadcast of view changes for the
// event streams, and the live preview.
type uiState struct {
	mu      sync.Mutex
	theme   ui.Theme
	locale  string
	set     bool
	wake    chan struct{} // closed and replaced on every change
	preview previewHub
}

func (u *uiState) waitChan() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.wake == nil {
		u.wake = make(chan struct{})
	}
	return u.wake
}

// changed wakes every event stream.
func (u *uiState) changed() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.wake != nil {
		close(u.wake)
	}
	u.wake = make(chan struct{})
}

// launched records the theme and locale of a new session.
func (u *uiState) launched(req control.LaunchRequest) {
	u.mu.Lock()
	u.theme, u.locale, u.set = ui.DefaultTheme(), ui.DefaultLocale, true
	if req.Theme != nil {
		u.theme = *req.Theme
	}
	if req.Locale != "" {
		u.locale = req.Locale
	}
	u.mu.Unlock()
}

func (u *uiState) look() (ui.Theme, string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.set {
		return ui.DefaultTheme(), ui.DefaultLocale
	}
	return u.theme, u.locale
}

// UIState is one message of GET /ui/events: everything a screen shows.
// It holds no scores, thresholds or images.
type UIState struct {
	// Session is the current or last session without elapsed time; nil
	// before the first launch.
	Session *SessionView `json:"session"`
	// HoldMS is how long a final result stays on screen from now, ms (0
	// once the screens are back to idle).
	HoldMS int64             `json:"hold_ms"`
	Theme  ui.Theme          `json:"theme"`
	Label  string            `json:"label_on_primary"` // "#ffffff" or "#000000"
	Locale string            `json:"locale"`
	Text   map[string]string `json:"strings"`
	// Oval is the face guide's geometry as fractions of the frame (the
	// same numbers guidance uses, agent/session/guidance.go).
	Oval struct {
		HeightFrac float64 `json:"height_frac"`
		Aspect     float64 `json:"aspect"`
	} `json:"oval"`
}

// UIState returns the screens' current state.
func (a *Agent) UIState() UIState {
	theme, locale := a.ui.look()
	st := UIState{Theme: theme, Label: ui.LabelOnHex(theme.Colors.Primary), Locale: locale,
		Text: ui.Strings(locale, &theme)}
	st.Oval.HeightFrac, st.Oval.Aspect = session.OvalHeightFrac, session.OvalAspect
	if v, ok := a.Session(); ok {
		v.ElapsedMS = 0
		st.Session = &v
		if v.FinishedAt != nil {
			hold := a.sessionPolicy().ResultHold
			st.HoldMS = max(0, v.FinishedAt.Add(hold).Sub(a.d.Clock.Now()).Milliseconds())
		}
	}
	return st
}

// registerUI adds the kiosk screens to the loopback API's mux:
//
//	GET /ui/              the screens (embedded HTML, CSS, JS, fonts)
//	GET /ui/events        text/event-stream of UIState, one "state" event per change
//	GET /ui/preview.mjpg  multipart/x-mixed-replace JPEG preview while the camera runs
func (a *Agent) registerUI(mux *http.ServeMux) {
	files := http.StripPrefix("/ui/", http.FileServerFS(ui.Assets()))
	mux.Handle("GET /ui/", a.uiHeaders(files))
	mux.HandleFunc("GET /ui/events", a.handleUIEvents)
	mux.HandleFunc("GET /ui/preview.mjpg", a.handlePreview)
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
	})
}

// uiHeaders sets a strict Content-Security-Policy: everything from the
// agent itself, images also from data: URIs (the partner's logo), and
// framing only by api.allowed_origins (the Web SDK's iframe).
func (a *Agent) uiHeaders(next http.Handler) http.Handler {
	ancestors := "'self'"
	for _, o := range a.cfg.API.AllowedOrigins {
		ancestors += " " + strings.TrimSuffix(o, "/")
	}
	csp := "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
		"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors " + ancestors
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

// handleUIEvents streams UIState as Server-Sent Events: one at connect,
// then one per change (identical states are sent once), plus a comment
// every 15 s so proxies and the browser keep the stream open, and one when
// a result's hold ends.
func (a *Agent) handleUIEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's WriteTimeout
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	var last []byte
	for {
		wake := a.ui.waitChan()
		st := a.UIState()
		b, err := json.Marshal(st)
		if err != nil {
			return
		}
		if !bytes.Equal(b, last) {
			if _, err := fmt.Fprintf(w, "event: state\ndata: %s\n\n", b); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
			last = b
		}
		var holdEnd <-chan time.Time
		if st.HoldMS > 0 {
			holdEnd = a.d.Clock.After(time.Duration(st.HoldMS) * time.Millisecond)
		}
		select {
		case <-r.Context().Done():
			return
		case <-a.stopped:
			return
		case <-wake:
		case <-holdEnd:
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// previewHub keeps the newest camera frame of the running capture round
// for the preview stream. Frames are held in memory only, replaced by the
// next one and dropped when the camera closes; nothing is written.
type previewHub struct {
	mu    sync.Mutex
	frame capture.Frame
	have  bool
	seq   uint64 // counts frames put since start
	wake  chan struct{}
	// Encoded JPEG of seq encSeq, shared by every viewer.
	enc    []byte
	encSeq uint64
	coder  ui.PreviewEncoder // its buffers are reused frame after frame
}

func (p *previewHub) put(f capture.Frame) {
	p.mu.Lock()
	p.frame, p.have = f, true
	p.seq++
	if p.wake != nil {
		close(p.wake)
		p.wake = nil
	}
	p.mu.Unlock()
}

// clear forgets the last frame (the camera closed).
func (p *previewHub) clear() {
	p.mu.Lock()
	p.frame, p.have, p.enc = capture.Frame{}, false, nil
	p.mu.Unlock()
}

// next waits for a frame newer than after and returns its JPEG and seq.
func (p *previewHub) next(after uint64, done <-chan struct{}) ([]byte, uint64, error) {
	for {
		p.mu.Lock()
		if p.have && p.seq > after {
			if p.encSeq != p.seq || p.enc == nil {
				enc, err := p.coder.Encode(p.frame.Image, p.frame.JPEG)
				if err != nil {
					p.mu.Unlock()
					return nil, 0, err
				}
				p.enc, p.encSeq = enc, p.seq
			}
			enc, seq := p.enc, p.seq
			p.mu.Unlock()
			return enc, seq, nil
		}
		if p.wake == nil {
			p.wake = make(chan struct{})
		}
		wake := p.wake
		p.mu.Unlock()
		select {
		case <-done:
			return nil, 0, http.ErrAbortHandler
		case <-wake:
		}
	}
}

// handlePreview streams the camera as MJPEG (multipart/x-mixed-replace):
// every frame the camera delivers, downscaled to ≤ 640 px wide, as long
// as the client reads. MJPEG rather than a WebSocket: an <img> shows it
// with no script, no decoder and no extra protocol, and a slow reader
// simply skips frames (each part is the newest frame).
func (a *Agent) handlePreview(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{})
	const boundary = "faceverifyframe"
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	done := make(chan struct{})
	go func() {
		select {
		case <-r.Context().Done():
		case <-a.stopped:
		}
		close(done)
	}()
	// Every frame is followed at once by the next part's boundary and
	// headers (hence no Content-Length): Chromium shows a part only when
	// the headers of the one after it arrive, so writing them just before
	// the next frame kept each frame off screen for one frame interval
	// (p50 frame → painted 97 → 33 ms at 15 fps, TestPreviewLatencyInBrowser).
	const part = "--" + boundary + "\r\nContent-Type: image/jpeg\r\n\r\n"
	if _, err := io.WriteString(w, part); err != nil {
		return
	}
	var seq uint64
	for {
		jpg, s, err := a.ui.preview.next(seq, done)
		if err != nil {
			return
		}
		seq = s
		if _, err := w.Write(jpg); err != nil {
			return
		}
		if _, err := io.WriteString(w, "\r\n"+part); err != nil || rc.Flush() != nil {
			return
		}
	}
}
