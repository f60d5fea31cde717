package ec2api

import (
	"context"
	"log/slog"
	"net/http"
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
}

// NewServer returns a server for svc whose callers authenticate with keys.
// The EC2 actions are registered; Handle adds more (Palisade's own).
func NewServer(svc *service.Service, keys auth.KeyLookup, log *slog.Logger) *Server {
	s := &Server{svc: svc, keys: keys, now: time.Now, log: log.With("component", "ec2api"), actions: Table{}}
	for name, h := range ec2Actions() {
		s.actions[name] = h
	}
	return s
}

// Handle registers (or replaces) the handler of an action.
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

// actionTables lists the functions returning each handler file's actions.
var actionTables []func() Table

// ServeHTTP answers one request. Nothing answers 5xx for bad input: every
// failure of the client is a *model.Error with a 4xx status.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := NewRequestID()
	start := s.now()
	action, err := s.serve(w, r, reqID)
	status := http.StatusOK
	if err != nil {
		status = WriteError(w, err, reqID)
	}
	s.log.Info("request", "action", action, "status", status, "request_id", reqID, "duration_ms", float64(s.now().Sub(start).Microseconds())/1000, "code", model.CodeOf(err))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, reqID string) (string, error) {
	body, err := ReadBody(r, DefaultMaxBody)
	if err != nil {
		return "", err
	}
	id, err := auth.Verify(r, body, s.keys, s.now())
	if err != nil {
		return "", err
	}
	req, err := DecodeRequest(r, body)
	if err != nil {
		return "", err
	}
	h, ok := s.actions[req.Action]
	if !ok {
		return req.Action, UnknownAction(req.Action)
	}
	if err := req.CheckVersion(APIVersion); err != nil {
		return req.Action, err
	}
	c := &Call{Ctx: r.Context(), Caller: service.Caller{Account: model.AccountID(id.AccountID), Region: id.Region},
		Identity: id, Action: req.Action, Params: req.Params, Service: s.svc}
	out, err := s.dispatch(c, h)
	if err != nil {
		return req.Action, err
	}
	return req.Action, WriteResponse(w, req.Action, reqID, out)
}

func (s *Server) dispatch(c *Call, h Handler) (any, error) {
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
