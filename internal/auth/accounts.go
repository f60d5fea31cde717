package auth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// Accounts and access keys live in the store, outside the resource tree
// ("r/") that the agent watches, one JSON value per key:
//
//	auth/acct/<account id>     an accountRecord
//	auth/key/<access key id>   an AccessKey, secret included
//	auth/bootstrap             the admin account and key made at first start
//
// The secret is stored as given, in the clear: verifying SigV4 needs the
// secret itself (the signing key is an HMAC chain starting from it, and
// changes every day, region and service), so a hash would be useless. The
// store file must therefore be as private as the credentials file beside it
// (palisade serve creates both with mode 0600, and the data directory, when
// it creates it, with 0700).
const (
	authPrefix     = "auth/"
	accountsPrefix = authPrefix + "acct/"
	keysPrefix     = authPrefix + "key/"
	bootstrapKey   = authPrefix + "bootstrap"
)

// AccessKey is one long-term access key of an account.
type AccessKey struct {
	ID      string          `json:"access_key_id"`
	Secret  string          `json:"secret_access_key"`
	Account model.AccountID `json:"account_id"`
	Created time.Time       `json:"created"`
}

// accountRecord is an account as stored.
type accountRecord struct {
	model.Account
	Created time.Time `json:"created"`
}

// bootstrapRecord names the admin account and key made at first start, so
// that the credentials file can be written again from the store.
type bootstrapRecord struct {
	Account     model.AccountID `json:"account_id"`
	AccessKeyID string          `json:"access_key_id"`
}

// NewAccount describes an account to create.
type NewAccount struct {
	Name string
	// ID is the account ID; "" draws a random one.
	ID model.AccountID
	// AccessKeyID and Secret are the account's first key, both or
	// neither; "" draws a random pair.
	AccessKeyID, Secret string
	Admin               bool
}

// Accounts is the registry of accounts and access keys, kept in a store and
// mirrored in memory: LookupKey, called on every request, reads the mirror.
// The mirror follows the store through a watch, so accounts that another
// replica creates become usable here too; those created through this
// Accounts are usable as soon as Create returns. A key or account the
// mirror lacks is read through from the store, so one that another replica
// has just created works at once, before the watch reports it.
type Accounts struct {
	st   store.Store
	rand io.Reader
	now  func() time.Time
	log  *slog.Logger

	mu       sync.RWMutex
	keys     map[string]entry[AccessKey]
	accounts map[model.AccountID]entry[accountRecord]

	stop context.CancelFunc
	done chan struct{} // closed when the watch goroutine has ended
}

// entry is a cached value with the revision that wrote it, so that a late
// watch event never replaces a newer value.
type entry[T any] struct {
	v   T
	rev int64
}

// AccountsOption adjusts an Accounts.
type AccountsOption func(*Accounts)

// WithAccountsRand sets the random source of IDs and secrets (tests).
func WithAccountsRand(r io.Reader) AccountsOption { return func(a *Accounts) { a.rand = r } }

// WithAccountsClock sets the clock of creation times (tests).
func WithAccountsClock(now func() time.Time) AccountsOption {
	return func(a *Accounts) { a.now = now }
}

// WithAccountsLogger sets the logger.
func WithAccountsLogger(l *slog.Logger) AccountsOption { return func(a *Accounts) { a.log = l } }

// OpenAccounts loads every account and key of st and keeps following the
// store until Close. ctx bounds the initial load only.
func OpenAccounts(ctx context.Context, st store.Store, opts ...AccountsOption) (*Accounts, error) {
	a := &Accounts{st: st, rand: rand.Reader, now: time.Now, log: slog.New(slog.DiscardHandler),
		keys: map[string]entry[AccessKey]{}, accounts: map[model.AccountID]entry[accountRecord]{}}
	for _, o := range opts {
		o(a)
	}
	a.log = a.log.With("component", "accounts")
	rev, err := a.load(ctx)
	if err != nil {
		return nil, err
	}
	wctx, stop := context.WithCancel(context.Background())
	a.stop, a.done = stop, make(chan struct{})
	go a.follow(wctx, rev)
	return a, nil
}

// Close stops following the store. It does not close the store.
func (a *Accounts) Close() error {
	a.stop()
	<-a.done
	return nil
}

var _ KeyLookup = (*Accounts)(nil)

// LookupKey implements KeyLookup from memory, reading through to the
// store on a miss.
func (a *Accounts) LookupKey(accessKeyID string) (secret, accountID string, ok bool) {
	a.mu.RLock()
	e, ok := a.keys[accessKeyID]
	a.mu.RUnlock()
	if !ok && readThroughable(accessKeyID) && a.readThrough(keysPrefix+accessKeyID) {
		a.mu.RLock()
		e, ok = a.keys[accessKeyID]
		a.mu.RUnlock()
	}
	if !ok {
		return "", "", false
	}
	return e.v.Secret, string(e.v.Account), true
}

// Account returns the account with the given ID, reading through to the
// store if the mirror lacks it.
func (a *Accounts) Account(id model.AccountID) (model.Account, bool) {
	a.mu.RLock()
	e, ok := a.accounts[id]
	a.mu.RUnlock()
	if !ok && readThroughable(string(id)) && a.readThrough(accountsPrefix+string(id)) {
		a.mu.RLock()
		e, ok = a.accounts[id]
		a.mu.RUnlock()
	}
	return e.v.Account, ok
}

// readThroughTimeout bounds the store read of a key or account the mirror
// lacks.
const readThroughTimeout = 2 * time.Second

// readThroughable reports whether id could name a stored key or account
// (letters and digits, not too long): anything else is not looked up in
// the store.
func readThroughable(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// readThrough reads one stored key or account into the mirror and reports
// whether it was found.
func (a *Accounts) readThrough(key string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), readThroughTimeout)
	defer cancel()
	kv, err := a.st.Get(ctx, key)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			a.log.Warn("read-through of accounts failed", "key", key, "err", err)
		}
		return false
	}
	if err := a.apply(store.Event{Type: store.EventPut, KV: kv}); err != nil {
		a.log.Error("bad account record in store", "key", key, "err", err)
		return false
	}
	return true
}

// IsAdmin reports whether the account may manage other accounts.
func (a *Accounts) IsAdmin(id model.AccountID) bool {
	acct, ok := a.Account(id)
	return ok && acct.Admin
}

// Create stores a new account with one access key. A taken account ID or
// access key ID is an error with model.CodeAccountDuplicate or
// model.CodeAccessKeyDuplicate; invalid input is InvalidParameterValue or
// MissingParameter; a full disk is Unavailable, a store that does not
// answer ServiceUnavailable. Every such failure is a
// *model.Error.
func (a *Accounts) Create(ctx context.Context, in NewAccount) (model.Account, AccessKey, error) {
	if err := in.check(); err != nil {
		return model.Account{}, AccessKey{}, err
	}
	var rec accountRecord
	var key AccessKey
	rev, err := a.st.Txn(ctx, func(tx store.Tx) error {
		var err error
		rec, key, err = a.create(tx, in)
		return err
	})
	if errors.Is(err, store.ErrNoSpace) {
		a.log.Error("create account", "err", err)
		return model.Account{}, AccessKey{}, model.Errorf(model.CodeUnavailable, "The account could not be stored: "+
			"the disk holding Palisade's database is out of space. Nothing was changed; retry once space has been freed.")
	}
	if errors.Is(err, store.ErrUnavailable) {
		a.log.Error("create account", "err", err)
		return model.Account{}, AccessKey{}, model.Errorf(model.CodeServiceUnavailable, "The account could not be "+
			"stored: Palisade's store (etcd) did not answer in time. Retry the request.")
	}
	if err != nil {
		return model.Account{}, AccessKey{}, err
	}
	a.remember(rec, key, rev)
	a.log.Info("account created", "account", rec.ID, "name", rec.Name, "admin", rec.Admin, "access_key_id", key.ID)
	return rec.Account, key, nil
}

// Bootstrap makes sure the store has an admin account: on a fresh store it
// creates one, with a random ID and key, and reports created. Either way it
// returns the admin account and key made at first start. Replicas racing
// to bootstrap one store agree on one admin: the check and the creation are
// one transaction.
func (a *Accounts) Bootstrap(ctx context.Context) (acct model.Account, key AccessKey, created bool, err error) {
	var rec accountRecord
	rev, err := a.st.Txn(ctx, func(tx store.Tx) error {
		var b bootstrapRecord
		found, err := getJSON(tx, bootstrapKey, &b)
		switch {
		case err != nil:
			return err
		case found:
			created = false
			return a.readBootstrap(tx, b, &rec, &key)
		}
		created = true
		if rec, key, err = a.create(tx, NewAccount{Name: "admin", Admin: true}); err != nil {
			return err
		}
		return putJSON(tx, bootstrapKey, bootstrapRecord{Account: rec.ID, AccessKeyID: key.ID})
	})
	if err != nil {
		return model.Account{}, AccessKey{}, false, fmt.Errorf("bootstrap admin account: %w", err)
	}
	if created {
		a.remember(rec, key, rev)
		a.log.Info("admin account created", "account", rec.ID, "access_key_id", key.ID)
	}
	return rec.Account, key, created, nil
}

func (a *Accounts) readBootstrap(tx store.Tx, b bootstrapRecord, rec *accountRecord, key *AccessKey) error {
	if ok, err := getJSON(tx, accountsPrefix+string(b.Account), rec); err != nil || !ok {
		return orMissing(err, "admin account "+string(b.Account))
	}
	if ok, err := getJSON(tx, keysPrefix+b.AccessKeyID, key); err != nil || !ok {
		return orMissing(err, "admin access key "+b.AccessKeyID)
	}
	return nil
}

func orMissing(err error, what string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s is named by %s but missing from the store", what, bootstrapKey)
}

// create writes the account and its first key inside tx.
func (a *Accounts) create(tx store.Tx, in NewAccount) (accountRecord, AccessKey, error) {
	id, err := a.accountID(tx, in.ID)
	if err != nil {
		return accountRecord{}, AccessKey{}, err
	}
	key, err := a.accessKey(tx, in.AccessKeyID, in.Secret)
	if err != nil {
		return accountRecord{}, AccessKey{}, err
	}
	now := a.now().UTC()
	key.Account, key.Created = id, now
	rec := accountRecord{Account: model.Account{ID: id, Name: in.Name, Admin: in.Admin}, Created: now}
	if err := putJSON(tx, accountsPrefix+string(id), rec); err != nil {
		return accountRecord{}, AccessKey{}, err
	}
	if err := putJSON(tx, keysPrefix+key.ID, key); err != nil {
		return accountRecord{}, AccessKey{}, err
	}
	return rec, key, nil
}

// accountID returns want if it is free, or a random free ID for "".
func (a *Accounts) accountID(tx store.Tx, want model.AccountID) (model.AccountID, error) {
	if want != "" {
		if taken, err := exists(tx, accountsPrefix+string(want)); err != nil || taken {
			return "", orDuplicate(err, model.CodeAccountDuplicate, "The account ID '%s' already exists", want)
		}
		return want, nil
	}
	for {
		id, err := randomAccountID(a.rand)
		if err != nil {
			return "", err
		}
		if taken, err := exists(tx, accountsPrefix+string(id)); err != nil || !taken {
			return id, err
		}
	}
}

// accessKey returns the given key if its ID is free, or a random one.
func (a *Accounts) accessKey(tx store.Tx, id, secret string) (AccessKey, error) {
	if id != "" {
		if taken, err := exists(tx, keysPrefix+id); err != nil || taken {
			return AccessKey{}, orDuplicate(err, model.CodeAccessKeyDuplicate, "The access key ID '%s' already exists", id)
		}
		return AccessKey{ID: id, Secret: secret}, nil
	}
	for {
		k, err := randomAccessKey(a.rand)
		if err != nil {
			return AccessKey{}, err
		}
		if taken, err := exists(tx, keysPrefix+k.ID); err != nil || !taken {
			return k, err
		}
	}
}

func orDuplicate(err error, code, format string, arg any) error {
	if err != nil {
		return err
	}
	return model.Errorf(code, format, arg)
}

func exists(tx store.Tx, key string) (bool, error) {
	_, err := tx.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func getJSON(tx store.Tx, key string, v any) (bool, error) {
	kv, err := tx.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(kv.Value, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

func putJSON(tx store.Tx, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return tx.Put(key, b)
}
