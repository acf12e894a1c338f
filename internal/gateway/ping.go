package gateway

import "context"

// Ping asks the backend for its version with the gateway's own
// credential: nil when the backend answers and accepts it, else an *Error
// (its Failure says what went wrong) or an *APIError.
func (b *Backend) Ping(ctx context.Context) error {
	return b.whm1(ctx, "version", nil, nil)
}
