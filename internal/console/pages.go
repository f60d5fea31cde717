package console

import (
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

var funcs = template.FuncMap{
	"join": strings.Join,
	"list": func(v ...string) []string { return v },
	// dict builds the argument of a sub-template from pairs.
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
	// newrow is the editor's empty rule, as Add rule adds it.
	"newrow": func() editRow { return editRow{Type: "Custom TCP", Protocol: "tcp", SourceKind: srcCustom} },
}

// ruleView is one rule as the group page and the editor show it.
type ruleView struct {
	ID          string
	Type        string
	Protocol    string // as shown: TCP, UDP, ICMP, All
	Wire        string // as the API takes it: tcp, -1, ...
	Ports       string // as shown: 22, 1000 - 2000, All
	PortsInput  string // as the editor takes it: 22, 1000-2000, 8-0
	Peer        string // the source or destination
	Description string
	Expires     string // when the rule ends on its own (model.ExpiresAtTag), "" never
	Hits        string // the hit counters, on the group page when the data plane counts
}

func viewRule(r model.Rule) ruleView {
	v := ruleView{ID: string(r.ID), Type: model.ServiceName(r), Wire: r.Protocol.String(), Peer: r.Peer.String(),
		Description: r.Description}
	if at, ok := r.ExpiresAt(); ok {
		v.Expires = at.UTC().Format(time.RFC3339)
	}
	n, ok := r.Protocol.Number()
	switch {
	case !ok:
		v.Protocol, v.Ports, v.PortsInput = "All", "All", ""
	case n.HasPorts():
		v.Protocol = strings.ToUpper(n.String())
		v.Ports, v.PortsInput = r.Ports.String(), r.Ports.String()
		if r.Ports.From != r.Ports.To {
			v.Ports = fmt.Sprintf("%d - %d", r.Ports.From, r.Ports.To)
		}
	case n.IsICMP():
		v.Protocol = map[model.Proto]string{model.ProtoICMP: "ICMP", model.ProtoICMPv6: "ICMPv6"}[n]
		switch {
		case r.ICMP.Type < 0:
			v.Ports, v.PortsInput = "All", ""
		case r.ICMP.Code < 0:
			v.Ports, v.PortsInput = fmt.Sprint(r.ICMP.Type), fmt.Sprint(r.ICMP.Type)
		default:
			v.Ports = fmt.Sprintf("%d (code %d)", r.ICMP.Type, r.ICMP.Code)
			v.PortsInput = fmt.Sprintf("%d-%d", r.ICMP.Type, r.ICMP.Code)
		}
	default:
		v.Protocol, v.Ports = n.String(), "All"
	}
	return v
}

func viewRules(rules []model.Rule) []ruleView {
	out := make([]ruleView, 0, len(rules))
	for _, r := range rules {
		out = append(out, viewRule(r))
	}
	return out
}

func (c *Console) vpcs(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	vpcs, _, err := c.svc.DescribeVpcs(ctx, c.caller(s), nil, nil, service.Page{})
	if err != nil {
		c.failErr(w, r, s, err)
		return
	}
	subnets, _, err := c.svc.DescribeSubnets(ctx, c.caller(s), nil, nil, service.Page{})
	if err != nil {
		c.failErr(w, r, s, err)
		return
	}
	c.renderPage(w, s, http.StatusOK, "vpcs", page{Title: "VPCs", Data: map[string]any{"VPCs": vpcs, "Subnets": subnets}})
}

func (c *Console) groups(w http.ResponseWriter, r *http.Request, s *session) {
	groups, _, err := c.svc.DescribeSecurityGroups(r.Context(), c.caller(s), service.DescribeSecurityGroupsInput{})
	if err != nil {
		c.failErr(w, r, s, err)
		return
	}
	filter := strings.TrimSpace(r.URL.Query().Get("filter"))
	if filter != "" {
		f := strings.ToLower(filter)
		groups = slices.DeleteFunc(groups, func(g model.SecurityGroup) bool {
			for _, v := range []string{string(g.ID), g.Name, g.Description, string(g.VPC)} {
				if strings.Contains(strings.ToLower(v), f) {
					return false
				}
			}
			return true
		})
	}
	type row struct {
		model.SecurityGroup
		In, Out int
	}
	rows := make([]row, 0, len(groups))
	for _, g := range groups {
		rows = append(rows, row{g, len(g.RulesOf(model.Ingress)), len(g.RulesOf(model.Egress))})
	}
	c.renderPage(w, s, http.StatusOK, "groups", page{Title: "Security groups", Data: map[string]any{
		"Groups": rows, "Filter": filter, "Deleted": r.URL.Query().Get("deleted")}})
}

// vpcChoices lists the VPCs for the create form, the default first.
func (c *Console) vpcChoices(r *http.Request, s *session) ([]model.VPC, error) {
	vpcs, _, err := c.svc.DescribeVpcs(r.Context(), c.caller(s), nil, nil, service.Page{})
	slices.SortStableFunc(vpcs, func(a, b model.VPC) int {
		switch {
		case a.IsDefault == b.IsDefault:
			return 0
		case a.IsDefault:
			return -1
		}
		return 1
	})
	return vpcs, err
}

func (c *Console) newGroupPage(w http.ResponseWriter, r *http.Request, s *session) {
	vpcs, err := c.vpcChoices(r, s)
	if err != nil {
		c.failErr(w, r, s, err)
		return
	}
	c.renderPage(w, s, http.StatusOK, "newgroup", page{Title: "Create security group", Nav: "groups",
		Data: map[string]any{"VPCs": vpcs}})
}

func (c *Console) createGroup(w http.ResponseWriter, r *http.Request, s *session) {
	in := service.CreateSecurityGroupInput{Name: r.PostForm.Get("name"), Description: r.PostForm.Get("description"),
		VpcID: r.PostForm.Get("vpc")}
	g, err := c.svc.CreateSecurityGroup(r.Context(), c.caller(s), in)
	if err != nil {
		vpcs, verr := c.vpcChoices(r, s)
		if verr != nil {
			c.failErr(w, r, s, verr)
			return
		}
		c.renderPage(w, s, statusOf(err), "newgroup", page{Title: "Create security group", Nav: "groups",
			Error: inWords(err), Code: model.CodeOf(err), Data: map[string]any{"VPCs": vpcs, "In": in}})
		return
	}
	c.opt.Log.Info("console: created security group", "account", s.account, "group", g.ID)
	http.Redirect(w, r, "/console/groups/"+string(g.ID), http.StatusSeeOther)
}

// findGroup reads one group of the session's account by ID.
func (c *Console) findGroup(r *http.Request, s *session, id string) (*model.SecurityGroup, error) {
	gs, _, err := c.svc.DescribeSecurityGroups(r.Context(), c.caller(s), service.DescribeSecurityGroupsInput{IDs: []string{id}})
	if err != nil {
		return nil, err
	}
	if len(gs) != 1 {
		return nil, model.KindGroup.NotFound(id)
	}
	return &gs[0], nil
}

func (c *Console) group(w http.ResponseWriter, r *http.Request, s *session) {
	g, err := c.findGroup(r, s, r.PathValue("id"))
	if err != nil {
		c.failErr(w, r, s, err)
		return
	}
	tab := "inbound"
	if r.URL.Query().Get("tab") == "outbound" {
		tab = "outbound"
	}
	inbound, outbound := viewRules(g.RulesOf(model.Ingress)), viewRules(g.RulesOf(model.Egress))
	counted := c.addHits(r, s, g.ID, inbound, outbound)
	c.renderPage(w, s, http.StatusOK, "group", page{Title: g.Name, Nav: "groups", Data: map[string]any{
		"Group": g, "Tab": tab, "Inbound": inbound, "Outbound": outbound, "Hits": counted,
		"Saved": r.URL.Query().Get("saved")}})
}

// addHits fills the rules' Hits from the hit counters, and reports whether
// there are any (the data plane counts); a failure to read them leaves the
// column out.
func (c *Console) addHits(r *http.Request, s *session, g model.GroupID, views ...[]ruleView) bool {
	hits, counted, err := c.svc.RuleHits(r.Context(), c.caller(s), string(g))
	if err != nil || !counted {
		return false
	}
	byID := map[model.RuleID]model.RuleHits{}
	for _, h := range hits {
		byID[h.Rule.ID] = h.Hits
	}
	for _, vs := range views {
		for i := range vs {
			h := byID[model.RuleID(vs[i].ID)]
			vs[i].Hits = "never"
			if !h.LastHit.IsZero() {
				vs[i].Hits = fmt.Sprintf("%d packets, last %s", h.Packets, h.LastHit.UTC().Format("2006-01-02 15:04:05 UTC"))
			}
		}
	}
	return true
}

func (c *Console) deleteGroup(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if _, err := c.svc.DeleteSecurityGroup(r.Context(), c.caller(s), service.GroupRef{ID: id}); err != nil {
		g, gerr := c.findGroup(r, s, id)
		if gerr != nil {
			c.failErr(w, r, s, err)
			return
		}
		c.renderPage(w, s, statusOf(err), "group", page{Title: g.Name, Nav: "groups", Error: inWords(err),
			Code: model.CodeOf(err), Data: map[string]any{"Group": g, "Tab": "inbound",
				"Inbound": viewRules(g.RulesOf(model.Ingress)), "Outbound": viewRules(g.RulesOf(model.Egress))}})
		return
	}
	c.opt.Log.Info("console: deleted security group", "account", s.account, "group", id)
	http.Redirect(w, r, "/console/groups?deleted="+id, http.StatusSeeOther)
}

func (c *Console) instances(w http.ResponseWriter, r *http.Request, s *session) {
	res, _, err := c.svc.DescribeInstances(r.Context(), c.caller(s), service.DescribeInstancesInput{})
	if err != nil {
		c.failErr(w, r, s, err)
		return
	}
	var insts []service.InstanceView
	for _, rv := range res {
		insts = append(insts, rv.Instances...)
	}
	c.renderPage(w, s, http.StatusOK, "instances", page{Title: "Instances", Data: insts})
}

func (c *Console) enis(w http.ResponseWriter, r *http.Request, s *session) {
	enis, _, err := c.svc.DescribeNetworkInterfaces(r.Context(), c.caller(s), service.DescribeNetworkInterfacesInput{})
	if err != nil {
		c.failErr(w, r, s, err)
		return
	}
	c.renderPage(w, s, http.StatusOK, "enis", page{Title: "Network interfaces", Data: enis})
}
