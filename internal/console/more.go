package console

import (
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// groupChoice is one group of the Change security groups form.
type groupChoice struct {
	ID, Name, Description string
	Checked               bool
}

// changeGroups is the data of the Change security groups page.
type changeGroups struct {
	Kind   string // "instance" or "network interface"
	ID     string
	Action string // the form's URL
	Back   string
	VPC    model.VpcID
	Groups []groupChoice
}

// target reads the interface or instance a Change security groups URL
// names: its VPC and current groups.
func (c *Console) changeTarget(r *http.Request, s *session) (*changeGroups, error) {
	id := r.PathValue("id")
	ch := &changeGroups{ID: id}
	var current []service.GroupIdentifier
	if strings.HasSuffix(r.URL.Path, "/enis/"+id+"/groups") {
		ch.Kind, ch.Action, ch.Back = "network interface", "/console/enis/"+id+"/groups", "/console/enis"
		enis, _, err := c.svc.DescribeNetworkInterfaces(r.Context(), c.caller(s), service.DescribeNetworkInterfacesInput{IDs: []string{id}})
		if err != nil {
			return nil, err
		}
		if len(enis) != 1 {
			return nil, model.KindENI.NotFound(id)
		}
		ch.VPC, current = enis[0].VPC, enis[0].GroupSet
	} else {
		ch.Kind, ch.Action, ch.Back = "instance", "/console/instances/"+id+"/groups", "/console/instances"
		res, _, err := c.svc.DescribeInstances(r.Context(), c.caller(s), service.DescribeInstancesInput{IDs: []string{id}})
		if err != nil {
			return nil, err
		}
		if len(res) != 1 || len(res[0].Instances) != 1 {
			return nil, model.KindInstance.NotFound(id)
		}
		inst := res[0].Instances[0]
		ch.VPC = inst.VPC
		if len(inst.Interfaces) > 0 {
			current = inst.Interfaces[0].GroupSet
		}
	}
	groups, _, err := c.svc.DescribeSecurityGroups(r.Context(), c.caller(s), service.DescribeSecurityGroupsInput{
		Filters: []service.Filter{{Name: "vpc-id", Values: []string{string(ch.VPC)}}}})
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		on := slices.ContainsFunc(current, func(gi service.GroupIdentifier) bool { return gi.ID == g.ID })
		ch.Groups = append(ch.Groups, groupChoice{ID: string(g.ID), Name: g.Name, Description: g.Description, Checked: on})
	}
	return ch, nil
}

func (c *Console) changeGroupsPage(w http.ResponseWriter, r *http.Request, s *session) {
	ch, err := c.changeTarget(r, s)
	if err != nil {
		c.failErr(w, r, s, err)
		return
	}
	c.renderPage(w, s, http.StatusOK, "changegroups", page{Title: "Change security groups", Nav: navOf(ch), Data: ch})
}

func navOf(ch *changeGroups) string {
	if ch.Kind == "instance" {
		return "instances"
	}
	return "enis"
}

// changeGroups replaces the groups of an interface (or of an instance's
// primary interface) with the checked ones, as
// ModifyNetworkInterfaceAttribute / ModifyInstanceAttribute do.
func (c *Console) changeGroups(w http.ResponseWriter, r *http.Request, s *session) {
	ch, err := c.changeTarget(r, s)
	if err != nil {
		c.failErr(w, r, s, err)
		return
	}
	chosen := r.PostForm["group"]
	if len(chosen) == 0 {
		err = model.Errorf(model.CodeMissingParameter, "Choose at least one security group: every %s has one or more.", ch.Kind)
	} else if ch.Kind == "instance" {
		err = c.svc.ModifyInstanceAttribute(r.Context(), c.caller(s), service.ModifyInstanceAttributeInput{InstanceID: ch.ID, GroupIDs: chosen})
	} else {
		err = c.svc.ModifyNetworkInterfaceAttribute(r.Context(), c.caller(s), service.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceID: ch.ID, GroupIDs: chosen})
	}
	if err != nil {
		for i := range ch.Groups {
			ch.Groups[i].Checked = slices.Contains(chosen, ch.Groups[i].ID)
		}
		c.renderPage(w, s, statusOf(err), "changegroups", page{Title: "Change security groups", Nav: navOf(ch),
			Error: inWords(err), Code: model.CodeOf(err), Data: ch})
		return
	}
	c.opt.Log.Info("console: changed security groups", "account", s.account, "target", ch.ID, "groups", strings.Join(chosen, ","))
	http.Redirect(w, r, ch.Back, http.StatusSeeOther)
}

// explainPage is Test a connection: the form, and with From and To the
// answer of service.Explain (the same as palisade explain).
func (c *Console) explainPage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	in := service.ExplainInput{From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to")), Protocol: q.Get("protocol")}
	data := map[string]any{"In": in, "Port": q.Get("port")}
	p := page{Title: "Test a connection", Nav: "explain", Data: data}
	if in.From != "" || in.To != "" {
		var err error
		if v := strings.TrimSpace(q.Get("port")); v != "" {
			n, perr := strconv.ParseInt(v, 10, 32)
			if perr != nil {
				err = model.Errorf(model.CodeInvalidParameterValue, "Port %q is not a number.", clip(v))
			}
			in.Port = i32(int32(n))
		}
		if err == nil {
			var ex *service.Explanation
			ex, err = c.svc.Explain(r.Context(), c.caller(s), in)
			data["Result"] = ex
		}
		if err != nil {
			p.Error, p.Code = inWords(err), model.CodeOf(err)
		}
	}
	c.renderPage(w, s, http.StatusOK, "explain", p)
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s *session) {
	findings, err := c.svc.Audit(r.Context(), c.caller(s), service.AuditInput{AuthorizedPorts: r.URL.Query().Get("authorized-ports")})
	if err != nil {
		c.failErr(w, r, s, err)
		return
	}
	c.renderPage(w, s, http.StatusOK, "audit", page{Title: "Audit", Data: findings})
}

// flowLogsPage lists the account's flow logs (DescribeFlowLogs) and the
// flows the data plane saw in the last 15 minutes (palisade flows), each
// with the rules that allowed it or the side that rejected it.
func (c *Console) flowLogsPage(w http.ResponseWriter, r *http.Request, s *session) {
	logs, _, err := c.svc.DescribeFlowLogs(r.Context(), c.caller(s), service.DescribeFlowLogsInput{})
	if err != nil {
		c.failErr(w, r, s, err)
		return
	}
	v := flowLogsView{Logs: logs, Observed: true}
	flows, err := c.svc.Flows(r.Context(), c.caller(s), service.FlowsInput{Since: 15 * time.Minute})
	switch {
	case model.CodeOf(err) == model.CodeUnsupportedOperation:
		v.Observed = false
	case err != nil:
		c.failErr(w, r, s, err)
		return
	}
	for i := len(flows) - 1; i >= 0 && len(v.Flows) < 100; i-- { // newest first
		v.Flows = append(v.Flows, flowView(flows[i]))
	}
	c.renderPage(w, s, http.StatusOK, "flowlogs", page{Title: "Flow logs", Nav: "flowlogs", Data: v})
}

// flowLogsView is the Flow logs page's data.
type flowLogsView struct {
	Logs     []model.FlowLog
	Flows    []flowRow
	Observed bool // this server sees flows (the lab data plane)
}

// flowRow is one flow record as the page shows it.
type flowRow struct {
	Interface, From, To, Protocol, Action, Rules, End string
}

func flowView(f model.FlowRecord) flowRow {
	row := flowRow{Interface: string(f.ENI), From: netip.AddrPortFrom(f.Src, f.SrcPort).String(),
		To: netip.AddrPortFrom(f.Dst, f.DstPort).String(), Protocol: f.Proto.String(), Action: f.Action,
		End: f.End.UTC().Format("15:04:05 UTC")}
	if !f.Proto.HasPorts() {
		row.From, row.To = f.Src.String(), f.Dst.String()
	}
	switch {
	case f.Action == "REJECT":
		row.Rules = "rejected on " + f.RejectSide
	case len(f.Rules) > 0:
		ids := make([]string, len(f.Rules))
		for i, id := range f.Rules {
			ids[i] = string(id)
		}
		row.Rules = strings.Join(ids, ", ")
	}
	return row
}
