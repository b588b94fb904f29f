package broker

import (
	"bufio"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/internal/validate"
)

// Role is a broker account's role; the roles and their topic rules are
// the MQTT contract's (mqttapi.Role, mqttapi.Rules).
type Role = mqttapi.Role

// The roles of broker.users_file; see mqttapi.
const (
	RoleKiosk         = mqttapi.RoleKiosk
	RoleOperator      = mqttapi.RoleOperator
	RoleViewer        = mqttapi.RoleViewer
	RoleHomeAssistant = mqttapi.RoleHomeAssistant
)

// Roles lists every role in the order the help texts name them.
var Roles = mqttapi.Roles

// ParseRole returns the role named s, or an error listing the roles.
func ParseRole(s string) (Role, error) { return mqttapi.ParseRole(s) }

// ValidAccountName reports whether name can be a broker account: 1–64 of
// [A-Za-z0-9._-], the device id alphabet, so a kiosk's name is usable in
// its topics as is (never a wildcard or a level separator).
func ValidAccountName(name string) bool {
	return validate.IDChars(name, 64)
}

// Account is one line of broker.users_file.
type Account struct {
	Name string // the MQTT user name; a kiosk's device.id
	Role Role
	hash passwordHash
}

// Password hashing: mosquitto_passwd's "$7$" format, PBKDF2-HMAC-SHA512,
// "$7$<iterations>$<base64 salt>$<base64 64-byte key>" (standard base64 with
// padding), so a line's hash also works in a mosquitto password_file.
const (
	// DefaultHashIterations is the PBKDF2-HMAC-SHA512 iteration count
	// HashPassword uses: OWASP's 2023 recommendation for that PRF
	// (Password Storage Cheat Sheet). It costs each login about 94 ms of
	// one x86-64 core (BenchmarkCheckPassword), several times that on an
	// ARM board.
	DefaultHashIterations = 210_000
	// MinHashIterations is the fewest iterations a users file may use;
	// mosquitto_passwd's own default (101) is refused as too cheap to
	// guess against.
	MinHashIterations = 10_000
	maxHashIterations = 10_000_000
	hashSaltLen       = 12 // mosquitto reads exactly 12
	hashKeyLen        = sha512.Size
)

// passwordHash is a parsed "$7$" hash.
type passwordHash struct {
	iterations int
	salt, key  []byte
}

// HashPassword returns password's "$7$" hash with a random 12-byte salt
// (the length mosquitto reads) and iterations rounds (DefaultHashIterations
// when 0). Errors: iterations outside [MinHashIterations, 10000000], an
// empty password, no randomness.
func HashPassword(password string, iterations int) (string, error) {
	if iterations == 0 {
		iterations = DefaultHashIterations
	}
	if iterations < MinHashIterations || iterations > maxHashIterations {
		return "", fmt.Errorf("iterations %d: must be in [%d,%d]", iterations, MinHashIterations, maxHashIterations)
	}
	if password == "" {
		return "", errors.New("empty password")
	}
	salt := make([]byte, hashSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key, err := pbkdf2.Key(sha512.New, password, salt, iterations, hashKeyLen)
	if err != nil {
		return "", fmt.Errorf("pbkdf2: %w", err)
	}
	return fmt.Sprintf("$7$%d$%s$%s", iterations,
		base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(key)), nil
}

// parseHash parses a "$7$" hash.
func parseHash(s string) (passwordHash, error) {
	parts := strings.Split(s, "$")
	// "", "7", iterations, salt, key
	if len(parts) != 5 || parts[0] != "" || parts[1] != "7" {
		return passwordHash{}, errors.New(`password hash: want "$7$<iterations>$<salt>$<key>" (facegateway broker-user add)`)
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil || n < MinHashIterations || n > maxHashIterations {
		return passwordHash{}, fmt.Errorf("password hash: %q iterations, want a number in [%d,%d] (hash again with facegateway broker-user add)",
			parts[2], MinHashIterations, maxHashIterations)
	}
	salt, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(salt) < 8 {
		return passwordHash{}, errors.New("password hash: salt is not base64 of at least 8 bytes")
	}
	key, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(key) != hashKeyLen {
		return passwordHash{}, fmt.Errorf("password hash: key is not base64 of %d bytes", hashKeyLen)
	}
	return passwordHash{iterations: n, salt: salt, key: key}, nil
}

// check reports whether password matches, in time independent of where
// the derived keys differ.
func (h passwordHash) check(password []byte) bool {
	key, err := pbkdf2.Key(sha512.New, string(password), h.salt, h.iterations, len(h.key))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// CheckPassword reports whether password matches hash, a "$7$" hash as
// HashPassword writes; a malformed hash is an error.
func CheckPassword(hash, password string) (bool, error) {
	h, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	return h.check([]byte(password)), nil
}

// ParseUsers reads a users file: one account per line, "NAME ROLE HASH"
// separated by blanks (the line `facegateway broker-user add` prints);
// blank lines and lines starting with '#' are ignored. Errors name the
// line: a bad name (ValidAccountName), role (ParseRole) or hash, a name
// given twice, two kiosks with the same Home Assistant node id
// ("kiosk.a" and "kiosk_a"), or no account at all.
func ParseUsers(r io.Reader) ([]Account, error) {
	var accts []Account
	seen := map[string]int{}  // name → line
	nodes := map[string]int{} // kiosk HA node id → line
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want \"NAME ROLE HASH\", got %d fields", n, len(f))
		}
		if !ValidAccountName(f[0]) {
			return nil, fmt.Errorf("line %d: name %q: must be 1–64 of [A-Za-z0-9._-]", n, f[0])
		}
		if prev, ok := seen[f[0]]; ok {
			return nil, fmt.Errorf("line %d: %s: already on line %d", n, f[0], prev)
		}
		seen[f[0]] = n
		role, err := ParseRole(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", n, f[0], err)
		}
		h, err := parseHash(f[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", n, f[0], err)
		}
		if role == RoleKiosk {
			node := mqttapi.HANodeID(f[0])
			if prev, ok := nodes[node]; ok {
				return nil, fmt.Errorf("line %d: %s: same Home Assistant node id %s as the kiosk on line %d", n, f[0], node, prev)
			}
			nodes[node] = n
		}
		accts = append(accts, Account{Name: f[0], Role: role, hash: h})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(accts) == 0 {
		return nil, errors.New("no accounts")
	}
	return accts, nil
}

// LoadUsers reads the users file at path (ParseUsers); errors start with
// "broker.users_file".
func LoadUsers(path string) ([]Account, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("broker.users_file: %w", err)
	}
	defer f.Close()
	accts, err := ParseUsers(f)
	if err != nil {
		return nil, fmt.Errorf("broker.users_file: %s: %w", path, err)
	}
	return accts, nil
}
