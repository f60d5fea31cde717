package console

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// Source kinds of the editor's Source list.
const (
	srcCustom    = "custom"
	srcAnywhere4 = "anywhere-ipv4"
	srcAnywhere6 = "anywhere-ipv6"
	srcMyIP      = "my-ip"
)

// editRow is one rule in the editor, as the form carries it.
type editRow struct {
	ID          string // empty for a new rule
	Type        string // a name from model.Services
	Protocol    string // wire form: tcp, udp, icmp, icmpv6, -1 or a number
	Ports       string // "22", "1000-2000"; ICMP "type" or "type-code"
	SourceKind  string
	Source      string // a CIDR, sg-… or pl-… (Custom)
	Description string
	Expires     string // Expires after: "" (unchanged; never for a new rule), "never", or a choice's duration
	ExpiresAt   string // the rule's expiry now (RFC 3339), "" for none
}

// expiryChoice is one entry of the Expires after list.
type expiryChoice struct {
	Value, Label string
}

// expiryChoices are the durations the editor offers: the rule gets the
// tag model.ExpiresAtTag, now plus the duration.
var expiryChoices = []expiryChoice{
	{"never", "Never"}, {"15m", "15 minutes"}, {"1h", "1 hour"}, {"4h", "4 hours"}, {"24h", "1 day"}, {"168h", "1 week"},
}

// rowExpiry returns the tags a row's rule gets for its Expires after, and
// whether that changes prev's expiry (prev is the row's stored rule, the
// zero Rule for a new row).
func rowExpiry(row editRow, prev model.Rule, now time.Time) (model.Tags, bool, error) {
	cur, has := prev.Tags.Get(model.ExpiresAtTag)
	switch row.Expires {
	case "":
		if has {
			return model.Tags{{Key: model.ExpiresAtTag, Value: cur}}, false, nil
		}
		return nil, false, nil
	case "never":
		return nil, has, nil
	}
	for _, c := range expiryChoices {
		if c.Value == row.Expires {
			d, _ := time.ParseDuration(c.Value)
			at := now.Add(d).Truncate(time.Second).UTC().Format(time.RFC3339)
			return model.Tags{{Key: model.ExpiresAtTag, Value: at}}, true, nil
		}
	}
	return nil, false, model.Errorf(model.CodeInvalidParameterValue, "Expires after %q is not one of the choices of the list.", clip(row.Expires))
}

// typeChoice is one entry of the Type list, with what it fills in.
type typeChoice struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Ports    string `json:"ports"`
	Custom   bool   `json:"custom"`
}

var typeChoices = func() []typeChoice {
	var out []typeChoice
	for _, s := range model.Services {
		out = append(out, typeChoice{Name: s.Name, Protocol: s.Protocol.String(), Ports: servicePorts(s), Custom: s.Custom})
	}
	return out
}()

// servicePorts is the Port range a fixed type fills in.
func servicePorts(s model.Service) string {
	if s.Custom {
		return ""
	}
	return viewRule(model.Rule{Protocol: s.Protocol, Ports: s.Ports, ICMP: s.ICMP}).PortsInput
}

func lookupType(name string) (model.Service, bool) {
	for _, s := range model.Services {
		if s.Name == name {
			return s, true
		}
	}
	return model.Service{}, false
}

// direction reads the {dir} of an editor URL.
func direction(s string) (model.Direction, bool) {
	switch s {
	case "inbound":
		return model.Ingress, true
	case "outbound":
		return model.Egress, true
	}
	return 0, false
}

func rowOf(r model.Rule) editRow {
	v := viewRule(r)
	row := editRow{ID: v.ID, Type: v.Type, Protocol: v.Wire, Ports: v.PortsInput, SourceKind: srcCustom,
		Source: v.Peer, Description: r.Description, ExpiresAt: v.Expires}
	switch v.Peer {
	case "0.0.0.0/0":
		row.SourceKind = srcAnywhere4
	case "::/0":
		row.SourceKind = srcAnywhere6
	}
	return row
}

// editor is the editor page's data.
type editor struct {
	Group   *model.SecurityGroup
	Dir     string // inbound or outbound
	Peer    string // Source or Destination
	Rows    []editRow
	Types   []typeChoice
	Expiry  []expiryChoice
	TypesJS template.JS
	MyIP    string
	Preview *preview
}

// preview is what Save rules would change: the rules, and the flows seen
// lately that would be blocked (Observed: this server sees flows).
type preview struct {
	Removed, Added []ruleView
	Blocked        []blockedFlow
	Observed       bool
	Window         string
}

// blockedFlow is a flow seen lately that a change would block.
type blockedFlow struct {
	From, To, Protocol, Port, Interface, LastSeen string
}

func (c *Console) newEditor(r *http.Request, g *model.SecurityGroup, dir string) *editor {
	js, _ := json.Marshal(typeChoices)
	e := &editor{Group: g, Dir: dir, Peer: "Source", Types: typeChoices, TypesJS: template.JS(js), Expiry: expiryChoices}
	if dir == "outbound" {
		e.Peer = "Destination"
	}
	if a, ok := remoteAddr(r); ok {
		e.MyIP = netip.PrefixFrom(a, a.BitLen()).String()
	}
	return e
}

// openEditor finds the group and direction the request's path names and
// starts their editor; when it cannot, it has answered and ok is false.
func (c *Console) openEditor(w http.ResponseWriter, r *http.Request, s *session) (e *editor, g *model.SecurityGroup, d model.Direction, ok bool) {
	if d, ok = direction(r.PathValue("dir")); !ok {
		http.NotFound(w, r)
		return nil, nil, d, false
	}
	g, err := c.findGroup(r, s, r.PathValue("id"))
	if err != nil {
		c.failErr(w, r, s, err)
		return nil, nil, d, false
	}
	return c.newEditor(r, g, r.PathValue("dir")), g, d, true
}

func (c *Console) editRulesPage(w http.ResponseWriter, r *http.Request, s *session) {
	e, g, d, ok := c.openEditor(w, r, s)
	if !ok {
		return
	}
	for _, rule := range g.RulesOf(d) {
		e.Rows = append(e.Rows, rowOf(rule))
	}
	c.renderPage(w, s, http.StatusOK, "editor", page{Title: "Edit " + e.Dir + " rules", Nav: "groups", Data: e})
}

// saveRules turns the editor's rows into one ApplyRules call: rules gone
// from the form or changed are removed, new and changed ones added, in one
// transaction. With "preview" it only shows what would change.
func (c *Console) saveRules(w http.ResponseWriter, r *http.Request, s *session) {
	e, g, d, ok := c.openEditor(w, r, s)
	if !ok {
		return
	}
	e.Rows = formRows(r)
	for i := range e.Rows {
		for _, rule := range g.Rules {
			if string(rule.ID) == e.Rows[i].ID {
				e.Rows[i].ExpiresAt = viewRule(rule).Expires
			}
		}
	}
	in, pv, err := c.plan(r, g, d, e.Rows)
	if err == nil && r.PostForm.Get("action") == "preview" {
		err = c.previewFlows(r, s, g, d, in, pv)
	}
	if err == nil && r.PostForm.Get("action") == "preview" {
		e.Preview = pv
		c.renderPage(w, s, http.StatusOK, "editor", page{Title: "Edit " + e.Dir + " rules", Nav: "groups", Data: e})
		return
	}
	if err == nil {
		_, err = c.svc.ApplyRules(r.Context(), c.caller(s), in)
	}
	if err != nil {
		c.renderPage(w, s, statusOf(err), "editor", page{Title: "Edit " + e.Dir + " rules", Nav: "groups",
			Error: inWords(err), Code: model.CodeOf(err), Data: e})
		return
	}
	c.opt.Log.Info("console: saved rules", "account", s.account, "group", g.ID, "direction", d.String(),
		"removed", len(in.Remove), "added", len(pv.Added))
	http.Redirect(w, r, "/console/groups/"+string(g.ID)+"?tab="+e.Dir+"&saved=1", http.StatusSeeOther)
}

// previewFlows fills in the flows seen lately that the planned change
// would block.
func (c *Console) previewFlows(r *http.Request, s *session, g *model.SecurityGroup, d model.Direction, in service.ApplyRulesInput, pv *preview) error {
	var rules []model.Rule
	for _, rule := range g.RulesOf(d) {
		if !slices.Contains(in.Remove, string(rule.ID)) {
			rules = append(rules, rule)
		}
	}
	for _, spec := range in.Add {
		add, err := spec.Rules(d, g.Account, false)
		if err != nil {
			return err
		}
		rules = append(rules, add...)
	}
	blocked, observed, err := c.svc.PreviewBlocked(r.Context(), c.caller(s), g.ID, d, rules)
	if err != nil {
		return err
	}
	pv.Observed, pv.Window = observed, "hour"
	for _, f := range blocked {
		port := strconv.Itoa(int(f.DstPort))
		if !f.Proto.HasPorts() {
			port = "–"
		}
		pv.Blocked = append(pv.Blocked, blockedFlow{From: f.Src.String(), To: f.Dst.String(), Protocol: f.Proto.String(),
			Port: port, Interface: string(f.ENI), LastSeen: f.End.UTC().Format("2006-01-02 15:04:05 UTC")})
	}
	return nil
}

// formRows reads the editor's rows: parallel lists, one entry per row.
func formRows(r *http.Request) []editRow {
	f := r.PostForm
	n := len(f["type"])
	at := func(name string, i int) string {
		if v := f[name]; i < len(v) {
			return strings.TrimSpace(v[i])
		}
		return ""
	}
	rows := make([]editRow, 0, n)
	for i := range n {
		rows = append(rows, editRow{ID: at("rule_id", i), Type: at("type", i), Protocol: at("protocol", i),
			Ports: at("ports", i), SourceKind: at("source_kind", i), Source: at("source", i),
			Description: at("description", i), Expires: at("expires", i)})
	}
	return rows
}

// plan compares the rows with the group's rules of direction d.
func (c *Console) plan(r *http.Request, g *model.SecurityGroup, d model.Direction, rows []editRow) (service.ApplyRulesInput, *preview, error) {
	in := service.ApplyRulesInput{GroupID: string(g.ID), Direction: d}
	pv := &preview{}
	old := map[string]model.Rule{}
	for _, rule := range g.RulesOf(d) {
		old[string(rule.ID)] = rule
	}
	kept := map[string]bool{}
	now := time.Now()
	for _, row := range rows {
		spec, err := c.spec(r, row)
		if err != nil {
			return in, nil, err
		}
		rules, err := spec.Rules(d, g.Account, false)
		if err != nil {
			return in, nil, err
		}
		tags, expChanged, err := rowExpiry(row, old[row.ID], now)
		if err != nil {
			return in, nil, err
		}
		if prev, ok := old[row.ID]; ok && !kept[row.ID] && len(rules) == 1 && !expChanged &&
			rules[0].Key() == prev.Key() && rules[0].Description == prev.Description {
			kept[row.ID] = true
			continue
		}
		if row.ID != "" && old[row.ID].ID == "" {
			return in, nil, model.KindRule.NotFound(row.ID)
		}
		in.Add = append(in.Add, spec)
		in.AddTags = append(in.AddTags, tags)
		for i := range rules {
			rules[i].Tags = tags
		}
		pv.Added = append(pv.Added, viewRules(rules)...)
	}
	for _, rule := range g.RulesOf(d) {
		if !kept[string(rule.ID)] {
			in.Remove = append(in.Remove, string(rule.ID))
			pv.Removed = append(pv.Removed, viewRule(rule))
		}
	}
	return in, pv, nil
}

// spec turns one row into the IpPermission the API would get.
func (c *Console) spec(r *http.Request, row editRow) (model.PermissionSpec, error) {
	svc, ok := lookupType(row.Type)
	if !ok {
		return model.PermissionSpec{}, model.Errorf(model.CodeInvalidParameterValue, "Type %q is not a rule type of this console.", clip(row.Type))
	}
	p := model.PermissionSpec{Protocol: svc.Protocol.String()}
	n, hasNum := svc.Protocol.Number()
	switch {
	case !svc.Custom && hasNum && n.HasPorts():
		p.FromPort, p.ToPort = i32(int32(svc.Ports.From)), i32(int32(svc.Ports.To))
	case !svc.Custom && hasNum && n.IsICMP():
		p.FromPort, p.ToPort = i32(int32(svc.ICMP.Type)), i32(int32(svc.ICMP.Code))
	case svc.Custom:
		if !hasNum { // Custom protocol: the number comes from the form
			p.Protocol = row.Protocol
		}
		from, to, err := parseRange(row.Ports, hasNum && n.IsICMP())
		if err != nil {
			return p, err
		}
		p.FromPort, p.ToPort = from, to
	}
	desc := row.Description
	switch row.SourceKind {
	case srcAnywhere4:
		p.IPv4 = []model.SourceSpec{{Value: "0.0.0.0/0", Description: desc}}
	case srcAnywhere6:
		p.IPv6 = []model.SourceSpec{{Value: "::/0", Description: desc}}
	case srcMyIP:
		a, ok := remoteAddr(r)
		if !ok {
			return p, model.Errorf(model.CodeInvalidParameterValue, "Your address could not be read from the request; choose Custom and type it.")
		}
		src := model.SourceSpec{Value: netip.PrefixFrom(a, a.BitLen()).String(), Description: desc}
		if a.Is6() {
			p.IPv6 = append(p.IPv6, src)
		} else {
			p.IPv4 = append(p.IPv4, src)
		}
	case srcCustom, "":
		v := row.Source
		switch {
		case v == "":
			return p, model.Errorf(model.CodeMissingParameter, "A rule needs a source or destination: a CIDR block, a security group (sg-…) or a prefix list (pl-…).")
		case strings.HasPrefix(v, "sg-"):
			p.Groups = []model.GroupSourceSpec{{GroupID: v, Description: desc}}
		case strings.HasPrefix(v, "pl-"):
			p.PrefixLists = []model.SourceSpec{{Value: v, Description: desc}}
		case strings.Contains(v, ":"):
			p.IPv6 = []model.SourceSpec{{Value: v, Description: desc}}
		default:
			p.IPv4 = []model.SourceSpec{{Value: v, Description: desc}}
		}
	default:
		return p, model.Errorf(model.CodeInvalidParameterValue, "Source %q is not one of Custom, Anywhere-IPv4, Anywhere-IPv6, My IP.", clip(row.SourceKind))
	}
	return p, nil
}

// parseRange reads a Port range: "22" or "1000-2000"; for ICMP "type" or
// "type-code", empty for all. Empty is no ports (the service says whether
// the protocol needs them).
func parseRange(s string, icmp bool) (from, to *int32, err error) {
	s = strings.ReplaceAll(s, " ", "")
	if s == "" || strings.EqualFold(s, "all") {
		if icmp {
			return i32(-1), i32(-1), nil
		}
		return nil, nil, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	x, err1 := strconv.ParseInt(a, 10, 32)
	y := x
	var err2 error
	if isRange {
		y, err2 = strconv.ParseInt(b, 10, 32)
	} else if icmp {
		y = -1
	}
	if err1 != nil || err2 != nil {
		what := "a port such as 22 or a range such as 1024-2048"
		if icmp {
			what = "an ICMP type such as 8, or type-code such as 3-4"
		}
		return nil, nil, model.Errorf(model.CodeInvalidParameterValue, "Port range %q is not %s.", clip(s), what)
	}
	return i32(int32(x)), i32(int32(y)), nil
}

func i32(v int32) *int32 { return &v }
