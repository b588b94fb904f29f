package gateway

import (
	"context"
	"time"
)

// StoredReference is the analysed reference of one open flow as the store
// keeps it: Sealed holds the encrypted reference profile (SelfieKeys, the
// id "ref:" + flow id as associated data) once it is known, nil while a
// gateway is fetching it under the lease LeaseOwner/LeaseUntil.
type StoredReference struct {
	Sealed     []byte
	LeaseOwner string
	LeaseUntil time.Time
}

// ReferenceStore keeps the analysed partner reference of each open flow,
// so that every attempt and every replica uses one fetch and one analysis.
// Both backends implement it (table flow_references). A row lives only as
// long as its flow is open: closing the flow (a final decision or expiry)
// deletes it in the same transaction, and deleting the flow (user erasure,
// retention purge) deletes it too.
type ReferenceStore interface {
	// ClaimReference returns the flow's reference row. When the row holds
	// a sealed profile it is returned with claimed=false. When there is no
	// row, or its lease ended at or before now without a profile, the
	// caller gets the lease (owner until leaseUntil) and claimed=true: it
	// must fetch the reference and PutReference or ReleaseReference. While
	// another owner's lease runs, the row is returned with claimed=false
	// and no profile. ErrNotFound when the flow does not exist;
	// ErrFlowFinal when it is closed.
	ClaimReference(ctx context.Context, flowID, owner string, now, leaseUntil time.Time) (ref StoredReference, claimed bool, err error)
	// PutReference stores the sealed profile of a claimed reference.
	// ErrLeaseLost when owner no longer holds the lease; ErrFlowFinal when
	// the flow closed meanwhile (nothing is stored); ErrNotFound when it
	// is gone.
	PutReference(ctx context.Context, flowID, owner string, sealed []byte) error
	// ReleaseReference deletes the row when owner holds its lease and it
	// has no profile (a transient failure: the next claimant fetches
	// again). Releasing a lease not held is not an error.
	ReleaseReference(ctx context.Context, flowID, owner string) error
}
