package ec2api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"time"

	"palisade.dev/palisade/internal/auth"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// Call is one authenticated, decoded request on its way to a handler.
type Call struct {
	Ctx      context.Context
	Caller   service.Caller // account from the access key, region from the credential scope
	Identity auth.Identity
	Action   string
	Params   *Params
	Service  *service.Service
	Remote   netip.Addr // the address the request came from (its connection's peer)
}

// Handler serves one Action: parse reads every parameter (so that unknown
// ones can be refused before anything happens), run does the work and
// returns the response body (a struct with encoding/xml tags, rendered
// inside <ActionResponse> by WriteResponse). Build handlers with Action.
type Handler struct {
	parse func(p *Params) (any, error)
	run   func(c *Call, in any) (any, error)
	// DryRun says the action takes the DryRun parameter: a request with
	// DryRun=true is parsed and checked, then answered DryRunOperation.
	DryRun bool
	// Authorize, when set, decides whether the caller may call the action
	// at all, before anything else is read (nil: every account may; the
	// service scopes what it touches). Its error is the response, typically
	// UnauthorizedOperation.
	Authorize func(c *Call) error
}

// Action builds a Handler from a typed parser and runner.
func Action[In any](parse func(p *Params) (In, error), run func(c *Call, in In) (any, error)) Handler {
	return Handler{
		parse:  func(p *Params) (any, error) { return parse(p) },
		run:    func(c *Call, in any) (any, error) { return run(c, in.(In)) },
		DryRun: true,
	}
}

// Table maps Action names to handlers.
type Table map[string]Handler

// Server is the EC2 Query endpoint: it verifies the signature, decodes the
// request, dispatches the Action and writes the XML response or error.
type Server struct {
	svc     *service.Service
	keys    auth.KeyLookup
	now     func() time.Time
	log     *slog.Logger
	actions Table
	bodies  *bodyBudget
	metrics *metrics
}

// NewServer returns a server for svc whose callers authenticate with keys.
// The EC2 actions are registered; Handle adds more (Palisade's own).
func NewServer(svc *service.Service, keys auth.KeyLookup, log *slog.Logger) *Server {
	s := &Server{svc: svc, keys: keys, now: time.Now, log: log.With("component", "ec2api"), actions: Table{},
		bodies: newBodyBudget(DefaultBodyBudget), metrics: newMetrics()}
	for name, h := range ec2Actions() {
		s.actions[name] = h
	}
	return s
}

// Handle registers (or replaces) the handler of an action. Register every
// action before serving: the table is not guarded against concurrent use.
func (s *Server) Handle(action string, h Handler) { s.actions[action] = h }

// ec2Actions collects the action tables of this package's handler files.
// Each file that serves a family of actions contributes one table.
func ec2Actions() Table {
	t := Table{}
	for _, part := range actionTables {
		for name, h := range part() {
			t[name] = h
		}
	}
	return t
}

// actionTables lists the functions returning each handler file's actions:
// every action the server answers is in one of these tables.
var actionTables = []func() Table{
	accountActions,    // actions_account.go: Palisade's accounts
	callerActions,     // actions_caller.go: the caller's address
	eniActions,        // actions_enis.go
	flowLogActions,    // actions_flowlogs.go
	groupActions,      // actions_groups.go
	hostActions,       // actions_hosts.go: the hosts that run agents
	insightActions,    // actions_insight.go: explain, audit
	instanceActions,   // actions_instances.go
	labActions,        // actions_lab.go: lab hosts
	observeActions,    // actions_observe.go: flows, rule hit counters
	prefixListActions, // actions_prefixlists.go
	ruleActions,       // actions_rules.go
	tagActions,        // actions_tags.go
	vpcActions,        // actions_vpc.go
}

// ServeHTTP answers one request and logs one line about it. Nothing answers
// 5xx for bad input: every failure of the client is a *model.Error with a
// 4xx status. A handler that panics is logged with its stack and answered
// InternalError, and the server goes on.
//
// Requests signed for the service "sts" are STS Query requests
// (GetCallerIdentity, see sts.go), answered in STS's XML dialect; all
// others are EC2's.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := &exchange{reqID: NewRequestID(), start: s.now(), service: claimedService(r)}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("handler panicked", "action", clipValue(ex.action), "request_id", ex.reqID, "panic", p, "stack", string(debug.Stack()))
			ex.err = fmt.Errorf("panic: %v", p)
		}
		s.finish(w, ex)
	}()
	ex.err = s.serve(w, r, ex)
}

// exchange is what ServeHTTP learns about one request as it goes.
type exchange struct {
	reqID   string
	start   time.Time
	service string // "sts" selects STS's dialect; anything else is EC2
	account string // once verified
	action  string // once decoded
	err     error
}

// finish writes the error response, if any, and the access log line.
func (s *Server) finish(w http.ResponseWriter, ex *exchange) {
	status := http.StatusOK
	if ex.err != nil {
		if ex.service == stsService {
			status = writeSTSError(w, ex.err, ex.reqID)
		} else {
			status = WriteError(w, ex.err, ex.reqID)
		}
	}
	took := s.now().Sub(ex.start)
	s.observe(ex, took)
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "request", slog.String("action", clipValue(ex.action)),
		slog.Int("status", status), slog.String("request_id", ex.reqID),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000), slog.String("code", model.CodeOf(ex.err)),
		slog.String("account", ex.account), slog.String("service", ex.service))
}

// serve authenticates before it reads the body: a request without a known
// access key is answered from its headers alone, so that anonymous clients
// cannot make the server hold their bodies. A body is then read (within the
// server's body budget) and hashed as it arrives; a client that claims the
// payload's hash in X-Amz-Content-Sha256 has its signature checked before
// its body is read at all.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, ex *exchange) error {
	if err := checkMethod(w, r); err != nil {
		return err
	}
	if r.ContentLength > DefaultMaxBody {
		return bodyTooLarge(DefaultMaxBody)
	}
	pending, err := auth.Verifier{Keys: s.keys, Now: s.now}.Identify(r)
	if err != nil {
		return err
	}
	if claimed, ok := auth.ClaimedPayloadHash(r); ok {
		if _, err := pending.Check(r, claimed); err != nil {
			return err
		}
	}
	body, hash, release, err := s.bodies.read(r, DefaultMaxBody)
	defer release()
	if err != nil {
		return unreadableBody(err)
	}
	id, err := pending.Check(r, hash)
	if err != nil {
		return err
	}
	ex.account, ex.service = id.AccountID, id.Service
	if err := s.svc.CheckRegion(id.Region); err != nil {
		return err
	}
	req, err := decodeRequest(r, pending.Query(), body)
	if err != nil {
		return err
	}
	ex.action = req.Action
	if id.Service == stsService {
		return serveSTS(w, id, req, ex.reqID)
	}
	h, ok := s.actions[req.Action]
	if !ok {
		return UnknownAction(req.Action)
	}
	if err := req.CheckVersion(APIVersion); err != nil {
		return err
	}
	c := &Call{Ctx: r.Context(), Caller: service.Caller{Account: model.AccountID(id.AccountID), Region: id.Region},
		Identity: id, Action: req.Action, Params: req.Params, Service: s.svc, Remote: remoteAddr(r)}
	out, err := s.dispatch(c, h)
	if err != nil {
		return err
	}
	return WriteResponse(w, req.Action, ex.reqID, out)
}

// checkMethod refuses methods other than GET and POST, the only ones of the
// EC2 Query API, before anything else is read: HTTP 405 with an Allow
// header, in the API's error format.
func checkMethod(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodGet || r.Method == http.MethodPost {
		return nil
	}
	w.Header().Set("Allow", "GET, POST")
	return model.Errorf(model.CodeMethodNotAllowed, "The HTTP method %s is not allowed: the EC2 Query API takes GET and POST.",
		clipValue(r.Method))
}

// unreadableBody turns a failure to read the body (a broken chunked
// encoding, a client that went away) into a client error; the body
// reader's own errors pass unchanged.
func unreadableBody(err error) error {
	if model.CodeOf(err) != "" {
		return err
	}
	return model.Errorf(model.CodeInvalidParameterValue, "The request body could not be read: %s", clipValue(err.Error()))
}

func (s *Server) dispatch(c *Call, h Handler) (any, error) {
	if h.Authorize != nil {
		if err := h.Authorize(c); err != nil {
			return nil, err
		}
	}
	dry := false
	if h.DryRun {
		var err error
		if dry, err = c.Params.Bool("DryRun"); err != nil {
			return nil, err
		}
	}
	in, err := h.parse(c.Params)
	if err != nil {
		return nil, err
	}
	if err := c.Params.RejectUnread(); err != nil {
		return nil, err
	}
	if dry {
		return nil, model.Errorf(model.CodeDryRunOperation, "Request would have succeeded, but DryRun flag is set.")
	}
	return h.run(c, in)
}
