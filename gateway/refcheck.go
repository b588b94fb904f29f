package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/faceverify/faceverify/gateway/api"
)

// checkReference serves reference_check on flow initiation: with
// req.ReferenceCheck it fetches and analyses the user's reference now and
// returns its profile, or an *httpError:
//
//	reference refused by the partner's API, not an image, too large,
//	no single usable face                        422 reference_unusable
//	reference API unreachable after the retries,
//	or no answer within reference.check_deadline 502 reference_unavailable
//	decode budget or analyzer failure            503 server_busy
//
// The message of a 422 or 502 is the partner-safe reason (the Detail that
// SubmissionDetails would show). Without reference_check it returns nil,
// nil.
func (g *Gateway) checkReference(ctx context.Context, p PartnerConfig, req api.InitiateRequest) (*refProfile, error) {
	if !req.ReferenceCheck {
		return nil, nil
	}
	flow := Flow{PartnerID: p.ClientID, CorrelationID: req.CorrelationID, PartnerUserID: req.PartnerUserID,
		PartnerUserIDType: req.PartnerUserIDType, Kind: req.Flow}
	cctx, cancel := context.WithTimeout(ctx, g.cfg.Reference.CheckDeadline)
	defer cancel()
	prof, err := g.loadReference(cctx, flow, p)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, err
	case err != nil && cctx.Err() != nil:
		return nil, &httpError{http.StatusBadGateway, api.CodeReferenceUnavailable,
			fmt.Sprintf("the reference check did not finish within %s", g.cfg.Reference.CheckDeadline)}
	case errors.Is(err, errReferenceRuntime):
		g.log.Warn("reference check failed", "correlation_id", req.CorrelationID, "client_id", p.ClientID, "err", err)
		return nil, &httpError{http.StatusServiceUnavailable, api.CodeServerBusy, "the reference could not be analysed now; try again"}
	case err != nil:
		return nil, &httpError{http.StatusBadGateway, api.CodeReferenceUnavailable, referenceDetail(err)}
	case prof.Unusable:
		g.refs.results.WithLabelValues("check_unusable").Inc()
		return nil, &httpError{http.StatusUnprocessableEntity, api.CodeReferenceUnusable, prof.Detail}
	}
	return &prof, nil
}
