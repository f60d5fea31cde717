package core

import (
	"fmt"

	"palisade.dev/palisade/internal/store"
)

// CheckKey rejects keys no backend can store.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty key: %w", store.ErrInvalidArgument)
	}
	if len(key) > store.MaxKeyBytes {
		return fmt.Errorf("key of %d bytes, limit %d: %w", len(key), store.MaxKeyBytes, store.ErrInvalidArgument)
	}
	return nil
}

// CheckListOptions rejects a negative limit.
func CheckListOptions(opts store.ListOptions) error {
	if opts.Limit < 0 {
		return fmt.Errorf("list limit %d: %w", opts.Limit, store.ErrInvalidArgument)
	}
	return nil
}

// CheckRevision rejects a negative revision.
func CheckRevision(rev int64) error {
	if rev < 0 {
		return fmt.Errorf("revision %d: %w", rev, store.ErrInvalidArgument)
	}
	return nil
}

// CloneValue copies a value, never returning nil: a stored key always has a
// non-nil value.
func CloneValue(v []byte) []byte {
	return append(make([]byte, 0, len(v)), v...)
}
