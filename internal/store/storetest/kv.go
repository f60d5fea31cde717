package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/store"
)

func testGetPutDelete(t *testing.T, e *env) {
	s := e.open(t, Config{})
	wantMissing(t, s, "a/1")
	r1 := put(t, s, "a/1", "one")
	kv := get(t, s, "a/1")
	if string(kv.Value) != "one" || kv.CreateRevision != r1 || kv.ModRevision != r1 {
		t.Fatalf("after put at %d: %+v", r1, kv)
	}
	r2 := put(t, s, "a/1", "uno")
	kv = get(t, s, "a/1")
	if string(kv.Value) != "uno" || kv.CreateRevision != r1 || kv.ModRevision != r2 {
		t.Fatalf("after overwrite at %d (created %d): %+v", r2, r1, kv)
	}
	del(t, s, "a/1")
	wantMissing(t, s, "a/1")
	r4 := put(t, s, "a/1", "again")
	if kv := get(t, s, "a/1"); kv.CreateRevision != r4 {
		t.Fatalf("recreated at %d: %+v", r4, kv)
	}
	put(t, s, "empty", "")
	if kv := get(t, s, "empty"); kv.Value == nil || len(kv.Value) != 0 {
		t.Fatalf("empty value read back as %#v", kv.Value)
	}
}

func testValuesAreCopies(t *testing.T, e *env) {
	s := e.open(t, Config{})
	v := []byte("abc")
	txn(t, s, func(tx store.Tx) error { return tx.Put("k", v) })
	v[0] = 'X'
	kv := get(t, s, "k")
	kv.Value[1] = 'Y'
	if got := get(t, s, "k"); string(got.Value) != "abc" {
		t.Fatalf("value %q changed through caller's slices", got.Value)
	}
	p := list(t, s, "", store.ListOptions{})
	p.KVs[0].Value[2] = 'Z'
	if got := get(t, s, "k"); string(got.Value) != "abc" {
		t.Fatalf("value %q changed through a listed slice", got.Value)
	}
}

func testListPrefix(t *testing.T, e *env) {
	s := e.open(t, Config{})
	for _, k := range []string{"b/1", "a/2", "ab/1", "a/1", "a/1/x", "a"} {
		put(t, s, k, "v-"+k)
	}
	cases := map[string][]string{
		"a/":    {"a/1", "a/1/x", "a/2"},
		"a":     {"a", "a/1", "a/1/x", "a/2", "ab/1"},
		"":      {"a", "a/1", "a/1/x", "a/2", "ab/1", "b/1"},
		"c/":    nil,
		"a/1/x": {"a/1/x"},
	}
	for prefix, want := range cases {
		p := list(t, s, prefix, store.ListOptions{})
		if got := keys(p.KVs); !slices.Equal(got, want) || p.More {
			t.Errorf("list %q = %v (more %v), want %v", prefix, got, p.More, want)
		}
		if p.Revision != revision(t, s) {
			t.Errorf("list %q at revision %d, store at %d", prefix, p.Revision, revision(t, s))
		}
	}
	for _, kv := range list(t, s, "", store.ListOptions{}).KVs {
		if string(kv.Value) != "v-"+kv.Key {
			t.Errorf("%s = %q", kv.Key, kv.Value)
		}
	}
}

func testListPagination(t *testing.T, e *env) {
	s := e.open(t, Config{})
	var want []string
	txn(t, s, func(tx store.Tx) error {
		for i := range 25 {
			k := fmt.Sprintf("p/%03d", i)
			want = append(want, k)
			if err := tx.Put(k, []byte("v")); err != nil {
				return err
			}
		}
		return tx.Put("q/0", []byte("outside"))
	})
	for _, limit := range []int{1, 7, 10, 25, 26} {
		if got := paginate(t, s, "p/", limit); !slices.Equal(got, want) {
			t.Errorf("limit %d: %v, want %v", limit, got, want)
		}
	}
	p := list(t, s, "p/", store.ListOptions{StartAfter: "p/019", Limit: 3})
	if got := keys(p.KVs); !slices.Equal(got, []string{"p/020", "p/021", "p/022"}) || !p.More {
		t.Errorf("start after p/019: %v more %v", got, p.More)
	}
	if p := list(t, s, "p/", store.ListOptions{StartAfter: "p/024"}); len(p.KVs) != 0 || p.More {
		t.Errorf("start after the last key: %v more %v", keys(p.KVs), p.More)
	}
	if p := list(t, s, "p/", store.ListOptions{StartAfter: "a"}); len(p.KVs) != 25 {
		t.Errorf("start after a key before the prefix: %d keys", len(p.KVs))
	}
}

// paginate lists prefix page by page, checking every page's size and More.
func paginate(t *testing.T, s store.Store, prefix string, limit int) []string {
	t.Helper()
	var got []string
	opts := store.ListOptions{Limit: limit}
	for range 100 {
		p := list(t, s, prefix, opts)
		if len(p.KVs) > limit || (p.More && len(p.KVs) != limit) {
			t.Fatalf("page of %d keys, more %v, limit %d", len(p.KVs), p.More, limit)
		}
		got = append(got, keys(p.KVs)...)
		if !p.More {
			return got
		}
		opts = p.Next(opts)
	}
	t.Fatalf("pagination did not end")
	return nil
}

func testInvalidArguments(t *testing.T, e *env) {
	s := e.open(t, Config{})
	ctx := context.Background()
	long := strings.Repeat("k", store.MaxKeyBytes+1)
	checks := map[string]error{}
	_, checks["get empty key"] = s.Get(ctx, "")
	_, checks["get long key"] = s.Get(ctx, long)
	_, checks["list negative limit"] = s.List(ctx, "", store.ListOptions{Limit: -1})
	_, checks["watch negative revision"] = s.Watch(ctx, "", -1)
	_, checks["put empty key"] = s.Txn(ctx, func(tx store.Tx) error { return tx.Put("", nil) })
	_, checks["delete long key"] = s.Txn(ctx, func(tx store.Tx) error { return tx.Delete(long) })
	_, checks["nil function"] = s.Txn(ctx, nil)
	for what, err := range checks {
		if !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", what, err)
		}
	}
	if err := s.Compact(ctx, revision(t, s)+1); !errors.Is(err, store.ErrFutureRevision) {
		t.Errorf("compact a future revision: %v, want ErrFutureRevision", err)
	}
}
