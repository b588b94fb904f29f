package pgstore

// userLocksSchema is the schema version that keeps a user's lockout
// through an erasure: one row per locked user, keyed by a keyed hash of
// the user (never the id), deleted after unlock_at.
const userLocksSchema = `
CREATE TABLE user_locks (
	ref       bytea PRIMARY KEY,
	unlock_at timestamptz NOT NULL
);
`
