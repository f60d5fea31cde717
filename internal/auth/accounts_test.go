package auth

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/bolt"
	"palisade.dev/palisade/internal/store/mem"
)

func openAccounts(t *testing.T, st store.Store, opts ...AccountsOption) *Accounts {
	t.Helper()
	a, err := OpenAccounts(context.Background(), st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func newMemStore(t *testing.T) store.Store {
	t.Helper()
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	return st
}

var (
	akidRE   = regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`)
	secretRE = regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)
	acctRE   = regexp.MustCompile(`^[0-9]{12}$`)
)

func TestBootstrapCreatesOneAdmin(t *testing.T) {
	ctx := context.Background()
	st := newMemStore(t)
	a := openAccounts(t, st)
	acct, key, created, err := a.Bootstrap(ctx)
	if err != nil || !created {
		t.Fatalf("first bootstrap: created=%v err=%v", created, err)
	}
	if !acctRE.MatchString(string(acct.ID)) || !akidRE.MatchString(key.ID) || !secretRE.MatchString(key.Secret) {
		t.Fatalf("shapes: account %q key %q secret %q", acct.ID, key.ID, key.Secret)
	}
	if !acct.Admin || acct.Name != "admin" || key.Account != acct.ID {
		t.Fatalf("admin = %+v, key = %+v", acct, key)
	}
	if secret, owner, ok := a.LookupKey(key.ID); !ok || secret != key.Secret || owner != string(acct.ID) {
		t.Fatalf("LookupKey = %q %q %v", secret, owner, ok)
	}
	if !a.IsAdmin(acct.ID) {
		t.Fatal("admin is not admin")
	}

	// A second bootstrap, here or in another process on the same store,
	// returns the same admin and creates nothing.
	b := openAccounts(t, st)
	acct2, key2, created, err := b.Bootstrap(ctx)
	if err != nil || created || acct2 != acct || key2.ID != key.ID || key2.Secret != key.Secret {
		t.Fatalf("second bootstrap: %+v %+v created=%v err=%v", acct2, key2, created, err)
	}
}

func TestBootstrapSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/palisade.db"
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := OpenAccounts(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	acct, key, _, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bob, bobKey, err := a.Create(ctx, NewAccount{Name: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	st.Close()

	st, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a = openAccounts(t, st)
	acct2, key2, created, err := a.Bootstrap(ctx)
	if err != nil || created || acct2 != acct || key2 != key {
		t.Fatalf("after reopen: %+v %+v created=%v err=%v", acct2, key2, created, err)
	}
	if _, owner, ok := a.LookupKey(bobKey.ID); !ok || owner != string(bob.ID) {
		t.Fatalf("bob's key after reopen: %q %v", owner, ok)
	}
	if a.IsAdmin(bob.ID) {
		t.Fatal("bob became admin")
	}
}

func TestCreateAccount(t *testing.T) {
	ctx := context.Background()
	a := openAccounts(t, newMemStore(t))
	acct, key, err := a.Create(ctx, NewAccount{Name: "moto", ID: "123456789012", AccessKeyID: "FOOBARKEY", Secret: "FOOBARSECRET"})
	if err != nil {
		t.Fatal(err)
	}
	if acct.ID != "123456789012" || acct.Name != "moto" || acct.Admin || key.ID != "FOOBARKEY" || key.Secret != "FOOBARSECRET" {
		t.Fatalf("%+v %+v", acct, key)
	}
	if secret, owner, ok := a.LookupKey("FOOBARKEY"); !ok || secret != "FOOBARSECRET" || owner != "123456789012" {
		t.Fatalf("LookupKey = %q %q %v", secret, owner, ok)
	}
	random, rkey, err := a.Create(ctx, NewAccount{Name: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if !acctRE.MatchString(string(random.ID)) || !akidRE.MatchString(rkey.ID) || random.ID == acct.ID {
		t.Fatalf("%+v %+v", random, rkey)
	}

	_, _, err = a.Create(ctx, NewAccount{Name: "again", ID: "123456789012"})
	wantCode(t, err, model.CodeAccountDuplicate)
	_, _, err = a.Create(ctx, NewAccount{Name: "again", AccessKeyID: "FOOBARKEY", Secret: "x"})
	wantCode(t, err, model.CodeAccessKeyDuplicate)
	// A failed creation leaves nothing behind: the account ID stays free.
	_, _, err = a.Create(ctx, NewAccount{Name: "half", ID: "210987654321", AccessKeyID: "FOOBARKEY", Secret: "x"})
	wantCode(t, err, model.CodeAccessKeyDuplicate)
	if _, ok := a.Account("210987654321"); ok {
		t.Fatal("half-created account is visible")
	}
	if _, _, err := a.Create(ctx, NewAccount{Name: "half", ID: "210987654321"}); err != nil {
		t.Fatal(err)
	}
}

func TestCreateAccountValidation(t *testing.T) {
	a := openAccounts(t, newMemStore(t))
	cases := []struct {
		in   NewAccount
		code string
	}{
		{NewAccount{}, model.CodeMissingParameter},
		{NewAccount{Name: strings.Repeat("n", 65)}, model.CodeInvalidParameterValue},
		{NewAccount{Name: "tab\there"}, model.CodeInvalidParameterValue},
		{NewAccount{Name: "bad\xffutf8"}, model.CodeInvalidParameterValue},
		{NewAccount{Name: "x", ID: "12345"}, model.CodeInvalidParameterValue},
		{NewAccount{Name: "x", ID: "12345678901a"}, model.CodeInvalidParameterValue},
		{NewAccount{Name: "x", AccessKeyID: "AKIAONLY"}, model.CodeMissingParameter},
		{NewAccount{Name: "x", Secret: "only"}, model.CodeMissingParameter},
		{NewAccount{Name: "x", AccessKeyID: "AK/ID", Secret: "s"}, model.CodeInvalidParameterValue},
		{NewAccount{Name: "x", AccessKeyID: "AK ID", Secret: "s"}, model.CodeInvalidParameterValue},
		{NewAccount{Name: "x", AccessKeyID: strings.Repeat("A", 129), Secret: "s"}, model.CodeInvalidParameterValue},
		{NewAccount{Name: "x", AccessKeyID: "AKID", Secret: "with space"}, model.CodeInvalidParameterValue},
		{NewAccount{Name: "x", AccessKeyID: "AKID", Secret: "new\nline"}, model.CodeInvalidParameterValue},
	}
	for _, c := range cases {
		_, _, err := a.Create(context.Background(), c.in)
		wantCode(t, err, c.code)
		if strings.Contains(err.Error(), "with space") {
			t.Errorf("error repeats the secret: %v", err)
		}
	}
	// Names are free text, and not unique.
	for range 2 {
		if _, _, err := a.Create(context.Background(), NewAccount{Name: "Équipe réseau (prod) #2"}); err != nil {
			t.Fatal(err)
		}
	}
}

// An account created through one Accounts becomes usable through another
// one on the same store (another replica) by the watch.
func TestAccountsFollowTheStore(t *testing.T) {
	st := newMemStore(t)
	a := openAccounts(t, st)
	b := openAccounts(t, st)
	acct, key, err := a.Create(context.Background(), NewAccount{Name: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, owner, ok := b.LookupKey(key.ID); ok && owner == string(acct.ID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other replica never saw the new key")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, ok := b.Account(acct.ID); !ok || got.Name != "carol" {
		t.Fatalf("Account = %+v %v", got, ok)
	}

	// A deleted key disappears from the mirror.
	if _, err := st.Txn(context.Background(), func(tx store.Tx) error { return tx.Delete(keysPrefix + key.ID) }); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, ok := b.LookupKey(key.ID); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deleted key is still accepted")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A watch that falls behind compaction reloads instead of going stale.
func TestAccountsReloadAfterCompaction(t *testing.T) {
	ctx := context.Background()
	st := mem.New(mem.Options{LogRetention: 1})
	t.Cleanup(func() { st.Close() })
	var logs bytes.Buffer
	b := openAccounts(t, st, WithAccountsLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	b.stop() // stop following: the mirror is now at revision 0
	<-b.done
	a := openAccounts(t, st)
	_, key, err := a.Create(ctx, NewAccount{Name: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, _, err := a.Create(ctx, NewAccount{Name: "filler"}); err != nil {
			t.Fatal(err)
		}
	}
	wctx, stop := context.WithCancel(context.Background())
	b.stop, b.done = stop, make(chan struct{})
	go b.follow(wctx, 0) // revision 1 is compacted away
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.RLock() // the mirror itself: LookupKey would read through
		_, ok := b.keys[key.ID]
		b.mu.RUnlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no reload after compaction")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "reloading") {
		t.Fatalf("the key came without a reload:\n%s", logs.String())
	}
}

func TestConcurrentCreatesAreAllUsable(t *testing.T) {
	a := openAccounts(t, newMemStore(t))
	const n = 50
	keys := make([]AccessKey, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, k, err := a.Create(context.Background(), NewAccount{Name: "user"})
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k.ID] {
			t.Fatalf("duplicate key %s", k.ID)
		}
		seen[k.ID] = true
		if _, _, ok := a.LookupKey(k.ID); !ok {
			t.Fatalf("key %s not usable", k.ID)
		}
	}
}

func TestRandomStringIsUnbiasedAndComplete(t *testing.T) {
	// Every byte value once: only bytes below the rejection limit count.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	s, err := randomString(bytes.NewReader(append(all, all...)), "0123456789", 250)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[rune]int{}
	for _, r := range s {
		counts[r]++
	}
	for d := '0'; d <= '9'; d++ {
		if counts[d] != 25 {
			t.Fatalf("digit %c drawn %d times of 250", d, counts[d])
		}
	}
	if _, err := randomString(bytes.NewReader(nil), "ab", 4); err == nil {
		t.Fatal("an exhausted random source was not reported")
	}
}

func TestGeneratedKeysVerifySignatures(t *testing.T) {
	a := openAccounts(t, newMemStore(t))
	_, key, err := a.Create(context.Background(), NewAccount{Name: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	req := clientRequest(t, "POST", "http://palisade.test/", testBody)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key.ID, SecretAccessKey: key.Secret},
		req, hashOf(testBody), "ec2", "us-east-1", signedAt)
	if err != nil {
		t.Fatal(err)
	}
	id, err := Verify(onServer(t, req), []byte(testBody), a, signedAt)
	if err != nil {
		t.Fatal(err)
	}
	if id.AccountID != string(key.Account) {
		t.Fatalf("identity %+v", id)
	}
}

// heldWatch is a store whose watches deliver nothing until release is
// closed: another replica's watch that has not caught up yet.
type heldWatch struct {
	store.Store
	release chan struct{}
}

func (h heldWatch) Watch(ctx context.Context, prefix string, from int64) (<-chan store.WatchResponse, error) {
	in, err := h.Store.Watch(ctx, prefix, from)
	if err != nil {
		return nil, err
	}
	out := make(chan store.WatchResponse)
	go func() {
		defer close(out)
		select {
		case <-h.release:
		case <-ctx.Done():
			return
		}
		for r := range in {
			select {
			case out <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// An account and key created through one replica authenticate on another
// at once, even before that replica's watch reports them.
func TestAccountsOtherReplicaReadsThrough(t *testing.T) {
	st := newMemStore(t)
	release := make(chan struct{})
	defer close(release)
	a := openAccounts(t, st)
	b := openAccounts(t, heldWatch{Store: st, release: release})
	acct, key, err := a.Create(context.Background(), NewAccount{Name: "team"})
	if err != nil {
		t.Fatal(err)
	}
	secret, id, ok := b.LookupKey(key.ID)
	if !ok || secret != key.Secret || id != string(acct.ID) {
		t.Fatalf("replica b: LookupKey(%s) = %q, %q, %v; want the key of %s", key.ID, secret, id, ok, acct.ID)
	}
	if got, ok := b.Account(acct.ID); !ok || got.Name != "team" {
		t.Fatalf("replica b: Account(%s) = %+v, %v", acct.ID, got, ok)
	}
	if _, _, ok := b.LookupKey("AKIAUNKNOWNUNKNOWN00"); ok {
		t.Fatal("replica b found a key nobody created")
	}
}
