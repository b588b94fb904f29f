package main

import "errors"

// errSetup marks an error found while building the agent from its
// configuration, before it runs: a file or directory the configuration
// names is missing or unusable (models, runtime library, device or spool
// key, camera settings, MQTT certificates). faceagent exits 2 for it, as
// for an invalid configuration file; errors while running exit 1.
type errSetup struct{ err error }

func (e errSetup) Error() string { return e.err.Error() }
func (e errSetup) Unwrap() error { return e.err }

// setupError marks err (nil stays nil) as a configuration setup error.
func setupError(err error) error {
	if err == nil {
		return nil
	}
	return errSetup{err}
}

// exitCode is the exit status for an error from runAgent: 2 for a setup
// error, 1 otherwise; 0 for nil.
func exitCode(err error) int {
	var se errSetup
	switch {
	case err == nil:
		return 0
	case errors.As(err, &se):
		return 2
	}
	return 1
}
