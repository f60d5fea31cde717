package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"palisade.dev/palisade/internal/agent"
	"palisade.dev/palisade/internal/auth"
	"palisade.dev/palisade/internal/client"
	"palisade.dev/palisade/internal/ec2api"
	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/store/bolt"
)

// benchRegion is the region the benchmark's requests are signed for.
const benchRegion = "us-east-1"

// controlPlane is `palisade serve --dataplane lab` inside this process: a
// bolt store in a temporary directory, the service with raised quotas, the
// EC2 API on a loopback port with an admin account, and the agent over a
// lab of its own router prefix.
type controlPlane struct {
	dir      string
	st       *bolt.Store
	accounts *auth.Accounts
	srv      *http.Server
	endpoint string
	creds    aws.Credentials
	account  model.AccountID // the admin's, whom creds sign for
	lab      *lab.Lab
	agent    *agent.Agent
	ec2      *ec2.Client

	stopAgent func()
	applied   appliedWatch
}

// benchQuotas are the service's quotas for the benchmark: one interface
// carries a group of 1,000 rules.
func benchQuotas() service.Config {
	cfg := service.DefaultConfig()
	cfg.MaxRulesPerGroup = 1000
	cfg.MaxGroupsPerInterface = 16
	return cfg
}

// startControlPlane starts everything; Close stops it (the lab's
// namespaces stay: the caller removes them after Close, so that the agent
// cannot make them again).
func startControlPlane(ctx context.Context, l *lab.Lab, log *slog.Logger) (_ *controlPlane, err error) {
	cp := &controlPlane{lab: l}
	defer func() {
		if err != nil {
			cp.Close()
		}
	}()
	if cp.dir, err = os.MkdirTemp("", "palisade-bench-"); err != nil {
		return nil, err
	}
	if cp.st, err = bolt.Open(filepath.Join(cp.dir, "palisade.db"), bolt.Options{Logger: log}); err != nil {
		return nil, err
	}
	svc, err := service.New(cp.st, benchQuotas(), service.WithLogger(log))
	if err != nil {
		return nil, err
	}
	if cp.accounts, err = auth.OpenAccounts(ctx, cp.st, auth.WithAccountsLogger(log)); err != nil {
		return nil, err
	}
	admin, key, _, err := cp.accounts.Bootstrap(ctx)
	if err != nil {
		return nil, err
	}
	cp.account = admin.ID
	cp.creds = aws.Credentials{AccessKeyID: key.ID, SecretAccessKey: key.Secret}
	if err := cp.serve(ec2api.NewServer(svc, cp.accounts, log)); err != nil {
		return nil, err
	}
	cp.startAgent(log)
	return cp, nil
}

// serve runs the API on a loopback port of the kernel's choice.
func (cp *controlPlane) serve(h http.Handler) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cp.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go cp.srv.Serve(ln)
	cp.endpoint = "http://" + ln.Addr().String()
	cp.ec2 = ec2.New(ec2.Options{
		Region:       benchRegion,
		BaseEndpoint: aws.String(cp.endpoint),
		Credentials:  credentials.StaticCredentialsProvider{Value: cp.creds},
		Retryer:      aws.NopRetryer{},
		HTTPClient:   client.NewSDKHTTPClient(),
	})
	return nil
}

// startAgent runs the agent until Close, recording the revisions it
// applies.
func (cp *controlPlane) startAgent(log *slog.Logger) {
	cp.agent = agent.New(cp.st, cp.lab, agent.DefaultConfig(), log)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := cp.agent.Run(ctx); err != nil {
			log.Error("agent stopped", "err", err)
		}
	})
	wg.Go(func() { cp.applied.follow(ctx, cp.agent.Applied()) })
	var once sync.Once
	cp.stopAgent = func() { once.Do(func() { cancel(); wg.Wait() }) }
}

// settle waits until the agent has applied everything the store holds now.
func (cp *controlPlane) settle(ctx context.Context, limit time.Duration) error {
	rev, err := cp.st.Revision(ctx)
	if err != nil {
		return err
	}
	return cp.applied.wait(ctx, rev, limit)
}

// Close stops the agent, the API, the accounts and the store, and removes
// the temporary directory.
func (cp *controlPlane) Close() error {
	var errs []error
	if cp.stopAgent != nil {
		cp.stopAgent()
	}
	if cp.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, cp.srv.Shutdown(ctx))
		cancel()
	}
	if cp.accounts != nil {
		errs = append(errs, cp.accounts.Close())
	}
	if cp.st != nil {
		errs = append(errs, cp.st.Close())
	}
	if cp.dir != "" {
		errs = append(errs, os.RemoveAll(cp.dir))
	}
	return errors.Join(errs...)
}

// call sends a signed Query request for an action the SDK does not know
// (Palisade's own, such as PalisadeCreateLabHost).
func (cp *controlPlane) call(ctx context.Context, action string, params url.Values) error {
	form := url.Values{"Action": {action}, "Version": {"2016-11-15"}}
	for k, v := range params {
		form[k] = v
	}
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cp.endpoint, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(ctx, cp.creds, req, hex.EncodeToString(sum[:]), "ec2", benchRegion, time.Now()); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg strings.Builder
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		msg.Write(buf[:n])
		return fmt.Errorf("%s: %s: %s", action, resp.Status, msg.String())
	}
	return nil
}

// appliedWatch remembers the highest store revision the agent applied.
type appliedWatch struct {
	mu   sync.Mutex
	rev  int64
	wake chan struct{} // closed and replaced at every new revision
}

func (w *appliedWatch) follow(ctx context.Context, ch <-chan int64) {
	for {
		select {
		case <-ctx.Done():
			return
		case rev := <-ch:
			w.mu.Lock()
			if rev > w.rev {
				w.rev = rev
			}
			if w.wake != nil {
				close(w.wake)
				w.wake = nil
			}
			w.mu.Unlock()
		}
	}
}

// wait returns once a reconcile of revision rev or later has finished.
func (w *appliedWatch) wait(ctx context.Context, rev int64, limit time.Duration) error {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		w.mu.Lock()
		if w.rev >= rev {
			w.mu.Unlock()
			return nil
		}
		if w.wake == nil {
			w.wake = make(chan struct{})
		}
		wake := w.wake
		w.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			w.mu.Lock()
			last := w.rev
			w.mu.Unlock()
			return fmt.Errorf("the agent did not apply revision %d within %v (last applied %d)", rev, limit, last)
		}
	}
}
