package gateway

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// EnvDatabasePassword holds the PostgreSQL password (database.driver =
// "postgres"); it replaces any password of database.dsn_file.
const EnvDatabasePassword = "FACEGATEWAY_DATABASE_PASSWORD"

// Database drivers (DatabaseConfig.Driver).
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// ResolveSecrets fills Password from the environment (getenv, usually
// os.Getenv) and, when DSNFile is set, DSN from that file (surrounding
// whitespace trimmed). Setting both dsn and dsn_file to different strings
// is an error. It may be called more than once.
func (d *DatabaseConfig) ResolveSecrets(getenv func(string) string) error {
	if v := getenv(EnvDatabasePassword); v != "" {
		d.Password = v
	}
	if d.DSNFile == "" {
		return nil
	}
	b, err := os.ReadFile(d.DSNFile)
	if err != nil {
		return fmt.Errorf("database.dsn_file: %w", err)
	}
	dsn := string(bytes.TrimSpace(b))
	if d.DSN != "" && d.DSN != dsn {
		return errField("database.dsn_file", "set database.dsn or database.dsn_file, not both")
	}
	d.DSN = dsn
	return nil
}

// passwordKeyword finds a password in a key=value connection string.
var passwordKeyword = regexp.MustCompile(`(?i)(^|\s)password\s*=`)

// Validate checks the [database] table alone (Config.Validate includes
// it), naming the dotted field. Errors never quote the DSN, which may hold
// a password.
func (d DatabaseConfig) Validate() error { return d.validate() }

func (d DatabaseConfig) validate() error {
	switch d.Driver {
	case DriverSQLite:
		if d.Path == "" {
			return errField("database.path", "must not be empty")
		}
	case DriverPostgres:
		if d.DSN == "" {
			return errField("database.dsn", "must be set for driver %q (or database.dsn_file)", DriverPostgres)
		}
		hasPassword := false
		if strings.HasPrefix(d.DSN, "postgres://") || strings.HasPrefix(d.DSN, "postgresql://") {
			u, err := url.Parse(d.DSN)
			if err != nil {
				return errField("database.dsn", "not a valid postgres:// URL")
			}
			_, inUser := u.User.Password()
			hasPassword = inUser || u.Query().Has("password")
		} else {
			if !strings.Contains(d.DSN, "=") {
				return errField("database.dsn", "must be a postgres:// URL or key=value pairs")
			}
			hasPassword = passwordKeyword.MatchString(d.DSN)
		}
		if hasPassword && d.DSNFile == "" {
			return errField("database.dsn", "must not hold a password: set %s or put the whole DSN in database.dsn_file", EnvDatabasePassword)
		}
	default:
		return errField("database.driver", "must be %q or %q, got %q", DriverSQLite, DriverPostgres, d.Driver)
	}
	return nil
}
