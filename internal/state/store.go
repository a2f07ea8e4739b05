package state

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// indexKey holds the keys of the records the receiver keeps: the storage
// interface lists no keys, and a target no longer configured must not leave
// its record behind for ever.
const indexKey = "index"

// Key returns the storage key of the target at url (redacted).
func Key(url string) string { return "target " + url }

// Store is a receiver's records in a storage extension's client: a record
// per configured target, and the index of them.
type Store struct {
	client storage.Client
}

// Open returns the store of client for the targets of keys, deleting the
// records of the targets the index lists that keys does not, and writing
// keys as the index. It returns how many records it deleted; an index that
// cannot be read is written anew (err says why), and a storage that fails
// leaves records behind, never the store unusable.
func Open(ctx context.Context, client storage.Client, keys []string) (s *Store, deleted int, err error) {
	s = &Store{client: client}
	b, err := client.Get(ctx, indexKey)
	if err != nil {
		return s, 0, fmt.Errorf("reading the index: %w", err)
	}
	old, err := decodeIndex(b)
	if err != nil {
		err = fmt.Errorf("the index: %w", err)
	}
	configured := make(map[string]bool, len(keys))
	for _, k := range keys {
		configured[k] = true
	}
	var ops []*storage.Operation
	for _, k := range old {
		if !configured[k] {
			ops = append(ops, storage.DeleteOperation(k))
		}
	}
	ops = append(ops, storage.SetOperation(indexKey, appendIndex(nil, keys)))
	if berr := client.Batch(ctx, ops...); berr != nil {
		return s, 0, errors.Join(err, fmt.Errorf("deleting the records of %d targets no longer configured: %w", len(ops)-1, berr))
	}
	return s, len(ops) - 1, err
}

// Load returns the record under key; nil when there is none.
func (s *Store) Load(ctx context.Context, key string) ([]byte, error) {
	return s.client.Get(ctx, key)
}

// Save writes b as the record under key. The storage copies it.
func (s *Store) Save(ctx context.Context, key string, b []byte) error {
	return s.client.Set(ctx, key, b)
}

// SaveAll writes each of records under the key of the same position, in
// one batch: the storage makes one transaction of it, where a Save each
// would make as many.
func (s *Store) SaveAll(ctx context.Context, keys []string, records [][]byte) error {
	ops := make([]*storage.Operation, len(keys))
	for i, k := range keys {
		ops[i] = storage.SetOperation(k, records[i])
	}
	return s.client.Batch(ctx, ops...)
}

// Delete removes the record under key.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.client.Delete(ctx, key)
}

// Client returns the storage client the store writes to.
func (s *Store) Client() storage.Client { return s.client }

// Close releases the client.
func (s *Store) Close(ctx context.Context) error { return s.client.Close(ctx) }

// The index: a version byte, a uvarint count, then each key as a uvarint
// length and its bytes.
const indexVersion = 1

func appendIndex(dst []byte, keys []string) []byte {
	dst = append(dst, indexVersion)
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		dst = binary.AppendUvarint(dst, uint64(len(k)))
		dst = append(dst, k...)
	}
	return dst
}

func decodeIndex(b []byte) ([]string, error) {
	if b == nil {
		return nil, nil // a first start
	}
	if len(b) == 0 || b[0] != indexVersion {
		return nil, ErrNotState
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: cut short", ErrCorrupt)
	}
	b = b[k:]
	keys := make([]string, 0, n)
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return keys, fmt.Errorf("%w: cut short", ErrCorrupt)
		}
		keys = append(keys, string(b[k:k+int(l)]))
		b = b[k+int(l):]
	}
	if len(b) > 0 {
		return keys, fmt.Errorf("%w: %d bytes after the last key", ErrCorrupt, len(b))
	}
	return keys, nil
}

// Attach returns the store of client as it is, for a set of keys that is
// not known at the start (the goroutine connector's sources, which come and
// go): its index is read, not rewritten, and kept up to date with
// WriteIndex.
func Attach(ctx context.Context, client storage.Client) (s *Store, keys []string, err error) {
	s = &Store{client: client}
	b, err := client.Get(ctx, indexKey)
	if err != nil {
		return s, nil, fmt.Errorf("reading the index: %w", err)
	}
	keys, err = decodeIndex(b)
	if err != nil {
		return s, nil, fmt.Errorf("the index: %w", err)
	}
	return s, keys, nil
}

// WriteIndex writes keys as the index of the records kept.
func (s *Store) WriteIndex(ctx context.Context, keys []string) error {
	return s.client.Set(ctx, indexKey, appendIndex(nil, keys))
}
