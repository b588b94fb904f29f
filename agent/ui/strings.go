package ui

// Locales are the bundled UI languages: English and Bahasa Indonesia (the
// first market; KTP flows). A launch picks one with "locale"; DefaultLocale
// otherwise.
var Locales = []string{"en", "id"}

// DefaultLocale is used when a launch names none.
const DefaultLocale = "en"

// MaxStringRunes bounds one overridden string.
const MaxStringRunes = 300

// catalog holds every screen string per locale. Keys are stable: a
// theme's "strings" may override any of them per locale. {n} is replaced
// by a number (attempts left), {s} by seconds.
var catalog = map[string]map[string]string{
	"en": {
		"idle_title":           "Verify your identity",
		"idle_body":            "Start the check in your banking app. This kiosk will guide you.",
		"instructions_title":   "Get ready",
		"instructions_body":    "Remove hat and sunglasses. Look straight at the camera and keep your face inside the oval.",
		"capture_title":        "Look at the camera",
		"guide_NO_FACE":        "We can't see your face",
		"guide_MOVE_CLOSER":    "Move closer",
		"guide_MOVE_BACK":      "Move back a little",
		"guide_CENTER_FACE":    "Centre your face in the oval",
		"guide_MORE_LIGHT":     "More light needed",
		"guide_LESS_LIGHT":     "Too bright – avoid direct light",
		"guide_LOOK_AT_CAMERA": "Look straight at the camera",
		"guide_HOLD_STILL":     "Hold still",
		"guide_ONE_PERSON":     "Only one person, please",
		"guide_GOOD":           "Great – hold it there",
		"progress_label":       "Capture progress",
		"preview_label":        "Camera preview, mirrored",
		"processing_title":     "Checking…",
		"processing_body":      "This takes a few seconds.",
		"queued_body":          "The connection is slow. Your photo is kept on this kiosk and sent as soon as possible.",
		"retry_title":          "Let's try again",
		"retry_body":           "{n} attempts left.",
		"verified_title":       "Verified",
		"verified_body":        "Thank you. You can continue in your app.",
		"rejected_title":       "Not verified",
		"rejected_body":        "We could not confirm it is you. Please ask a member of staff for help.",
		"failed_title":         "Could not finish",
		"failed_body":          "The check could not be completed. Please start again from your app.",
		"err_camera_title":     "Camera unavailable",
		"err_camera_body":      "The camera is not working. Please ask a member of staff for help.",
		"err_gateway_title":    "Service unreachable",
		"err_gateway_body":     "We cannot reach the verification service. Please try again later.",
		"err_token_title":      "Session expired",
		"err_token_body":       "Please start again from your app.",
		"err_device_title":     "Kiosk not set up",
		"err_device_body":      "This kiosk is not registered. Please ask a member of staff for help.",
		"countdown":            "Back to start in {s} s",
	},
	"id": {
		"idle_title":           "Verifikasi identitas Anda",
		"idle_body":            "Mulai pemeriksaan di aplikasi bank Anda. Kiosk ini akan memandu Anda.",
		"instructions_title":   "Bersiap",
		"instructions_body":    "Lepaskan topi dan kacamata hitam. Lihat lurus ke kamera dan jaga wajah Anda di dalam oval.",
		"capture_title":        "Lihat ke kamera",
		"guide_NO_FACE":        "Wajah Anda tidak terlihat",
		"guide_MOVE_CLOSER":    "Mendekatlah",
		"guide_MOVE_BACK":      "Mundur sedikit",
		"guide_CENTER_FACE":    "Posisikan wajah di tengah oval",
		"guide_MORE_LIGHT":     "Perlu cahaya lebih terang",
		"guide_LESS_LIGHT":     "Terlalu terang – hindari cahaya langsung",
		"guide_LOOK_AT_CAMERA": "Lihat lurus ke kamera",
		"guide_HOLD_STILL":     "Jangan bergerak",
		"guide_ONE_PERSON":     "Hanya satu orang",
		"guide_GOOD":           "Bagus – tahan posisi",
		"progress_label":       "Kemajuan pengambilan",
		"preview_label":        "Pratinjau kamera, dicerminkan",
		"processing_title":     "Memeriksa…",
		"processing_body":      "Ini membutuhkan beberapa detik.",
		"queued_body":          "Koneksi lambat. Foto Anda disimpan di kiosk ini dan segera dikirim.",
		"retry_title":          "Mari coba lagi",
		"retry_body":           "Sisa {n} percobaan.",
		"verified_title":       "Terverifikasi",
		"verified_body":        "Terima kasih. Anda dapat melanjutkan di aplikasi.",
		"rejected_title":       "Tidak terverifikasi",
		"rejected_body":        "Kami tidak dapat memastikan ini Anda. Silakan minta bantuan petugas.",
		"failed_title":         "Tidak dapat diselesaikan",
		"failed_body":          "Pemeriksaan tidak dapat diselesaikan. Silakan mulai lagi dari aplikasi Anda.",
		"err_camera_title":     "Kamera tidak tersedia",
		"err_camera_body":      "Kamera tidak berfungsi. Silakan minta bantuan petugas.",
		"err_gateway_title":    "Layanan tidak dapat dihubungi",
		"err_gateway_body":     "Layanan verifikasi tidak dapat dihubungi. Silakan coba lagi nanti.",
		"err_token_title":      "Sesi kedaluwarsa",
		"err_token_body":       "Silakan mulai lagi dari aplikasi Anda.",
		"err_device_title":     "Kiosk belum terdaftar",
		"err_device_body":      "Kiosk ini belum terdaftar. Silakan minta bantuan petugas.",
		"countdown":            "Kembali ke awal dalam {s} detik",
	},
}

// Strings returns the catalog of locale (DefaultLocale if unknown) with the
// theme's overrides for it applied. The result is a new map.
func Strings(locale string, t *Theme) map[string]string {
	base, ok := catalog[locale]
	if !ok {
		locale, base = DefaultLocale, catalog[DefaultLocale]
	}
	out := make(map[string]string, len(base))
	for k, v := range base {
		out[k] = v
	}
	if t != nil {
		for k, v := range t.Strings[locale] {
			out[k] = v
		}
	}
	return out
}

// KnownLocale reports whether l is bundled.
func KnownLocale(l string) bool { _, ok := catalog[l]; return ok }
