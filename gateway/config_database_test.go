package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDatabaseConfig(t *testing.T) {
	const secret = "s3cret-pw"
	tests := []struct {
		name string
		db   DatabaseConfig
		want string // error prefix; "" for valid
	}{
		{"sqlite default", DatabaseConfig{Driver: "sqlite", Path: "gw.db"}, ""},
		{"sqlite without path", DatabaseConfig{Driver: "sqlite"}, "database.path:"},
		{"postgres url", DatabaseConfig{Driver: "postgres", DSN: "postgres://fg@db.example:5432/fg?sslmode=verify-full"}, ""},
		{"postgresql url", DatabaseConfig{Driver: "postgres", DSN: "postgresql://fg@127.0.0.1/fg"}, ""},
		{"postgres key=value", DatabaseConfig{Driver: "postgres", DSN: "host=db.example user=fg dbname=fg sslmode=verify-full"}, ""},
		{"postgres without dsn", DatabaseConfig{Driver: "postgres", Path: "gw.db"}, "database.dsn: must be set"},
		{"password in url", DatabaseConfig{Driver: "postgres", DSN: "postgres://fg:" + secret + "@db.example/fg"}, "database.dsn: must not hold a password"},
		{"password in url query", DatabaseConfig{Driver: "postgres", DSN: "postgres://fg@db.example/fg?password=" + secret}, "database.dsn: must not hold a password"},
		{"password keyword", DatabaseConfig{Driver: "postgres", DSN: "host=db.example user=fg Password = " + secret}, "database.dsn: must not hold a password"},
		{"password keyword first", DatabaseConfig{Driver: "postgres", DSN: "password=" + secret + " host=db.example"}, "database.dsn: must not hold a password"},
		{"password from dsn_file", DatabaseConfig{Driver: "postgres", DSN: "postgres://fg:" + secret + "@db.example/fg", DSNFile: "/run/secrets/dsn"}, ""},
		{"not a dsn", DatabaseConfig{Driver: "postgres", DSN: "db.example"}, "database.dsn: must be a postgres:// URL"},
		{"unix socket url", DatabaseConfig{Driver: "postgres", DSN: "postgres:///fg?host=/run/postgresql"}, ""},
		{"malformed url", DatabaseConfig{Driver: "postgres", DSN: "postgres://fg@db.example:port/fg"}, "database.dsn: not a valid"},
		{"unknown driver", DatabaseConfig{Driver: "mysql", Path: "x"}, `database.driver: must be "sqlite" or "postgres"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			c.Database = tt.db
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want prefix %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error quotes the password: %v", err)
			}
		})
	}
}

func TestDatabaseResolveSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "dsn")
	full := "postgres://fg:pw@db.example/fg"
	if err := os.WriteFile(file, []byte("  "+full+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name     string
		db       DatabaseConfig
		env      map[string]string
		wantDSN  string
		wantPass string
		wantErr  string
	}{
		{"password from env", DatabaseConfig{Driver: "postgres", DSN: "postgres://fg@db/fg"}, map[string]string{EnvDatabasePassword: "pw1"}, "postgres://fg@db/fg", "pw1", ""},
		{"dsn from file", DatabaseConfig{Driver: "postgres", DSNFile: file}, nil, full, "", ""},
		{"file and env", DatabaseConfig{Driver: "postgres", DSNFile: file}, map[string]string{EnvDatabasePassword: "pw2"}, full, "pw2", ""},
		{"missing file", DatabaseConfig{Driver: "postgres", DSNFile: filepath.Join(dir, "nope")}, nil, "", "", "database.dsn_file:"},
		{"dsn and file", DatabaseConfig{Driver: "postgres", DSN: "postgres://other@db/fg", DSNFile: file}, nil, "", "", "database.dsn_file: set database.dsn or"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.db
			err := d.ResolveSecrets(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("ResolveSecrets() = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || d.DSN != tt.wantDSN || d.Password != tt.wantPass {
				t.Fatalf("ResolveSecrets() = %v; DSN %q, password %q; want %q, %q", err, d.DSN, d.Password, tt.wantDSN, tt.wantPass)
			}
			// A second resolution (LoadConfig, then a subcommand) is a no-op.
			if err := d.ResolveSecrets(env(tt.env)); err != nil || d.DSN != tt.wantDSN {
				t.Errorf("second ResolveSecrets() = %v, DSN %q", err, d.DSN)
			}
		})
	}
}

// TestDatabaseFromTOML: the keys decode, and the whole Config resolves the
// database secrets.
func TestDatabaseFromTOML(t *testing.T) {
	cfg, err := DecodeConfig(strings.NewReader(`
[database]
driver = "postgres"
dsn = "postgres://facegateway@127.0.0.1:5432/facegateway?sslmode=disable"
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ResolveSecrets(func(k string) string {
		if k == EnvDatabasePassword {
			return "pw"
		}
		return ""
	}); err != nil {
		t.Fatal(err)
	}
	if cfg.Database.Driver != DriverPostgres || cfg.Database.Password != "pw" || !strings.HasPrefix(cfg.Database.DSN, "postgres://facegateway@") {
		t.Errorf("Database = %+v", cfg.Database)
	}
	if _, err := DecodeConfig(strings.NewReader("[database]\npassword = \"pw\"\n")); err == nil || !strings.Contains(err.Error(), "unknown key database.password (line 2)") ||
		!strings.Contains(err.Error(), EnvDatabasePassword) {
		t.Errorf("password in the file: %v, want unknown key", err)
	}
}

// TestExamplePostgres: the commented PostgreSQL lines of the example
// config, uncommented, make a valid configuration.
func TestExamplePostgres(t *testing.T) {
	b, err := os.ReadFile("../cmd/facegateway/facegateway.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == `driver = "sqlite"`:
			continue
		case strings.HasPrefix(line, `# driver = "postgres"`), strings.HasPrefix(line, `# dsn = `):
			line = strings.TrimPrefix(line, "# ")
			found++
		}
		out = append(out, line)
	}
	if found != 2 {
		t.Fatalf("example has %d of the 2 commented postgres lines", found)
	}
	cfg, err := DecodeConfig(strings.NewReader(strings.Join(out, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database.Driver != DriverPostgres {
		t.Fatalf("driver %q", cfg.Database.Driver)
	}
	if err := cfg.Database.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// FuzzDatabaseDSN: validating any DSN never panics and never quotes the
// DSN's text (it may hold a password) in the error.
func FuzzDatabaseDSN(f *testing.F) {
	for _, s := range [][2]string{
		{"postgres://fg:", "@db.example/fg"},
		{"postgresql://fg@db/fg?password=", ""},
		{"host=db password=", " dbname=fg"},
		{"", ""},
		{"postgres://fg@db.example:", "/fg"},
		{"postgres://[", "]/fg"},
	} {
		f.Add(s[0], s[1], "")
		f.Add(s[0], s[1], "/run/secrets/dsn")
	}
	const marker = "Zq8SECRETxK3"
	f.Fuzz(func(t *testing.T, prefix, suffix, file string) {
		d := DatabaseConfig{Driver: DriverPostgres, DSN: prefix + marker + suffix, DSNFile: file}
		if err := d.Validate(); err != nil && strings.Contains(err.Error(), marker) {
			t.Errorf("error quotes the DSN: %v", err)
		}
	})
}
