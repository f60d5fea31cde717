package ec2api

import (
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// labActions serve Palisade's own lab hosts ("outside computers") through
// the same signed endpoint as every EC2 action. They are not EC2 actions,
// so their names carry the Palisade prefix and they take no DryRun.
func labActions() Table {
	create := Action(parseCreateLabHost, runCreateLabHost)
	del := Action(parseLabHostName, runDeleteLabHost)
	list := Action(parseNothing, runDescribeLabHosts)
	for _, h := range []*Handler{&create, &del, &list} {
		h.DryRun = false
	}
	return Table{
		"PalisadeCreateLabHost":    create,
		"PalisadeDeleteLabHost":    del,
		"PalisadeDescribeLabHosts": list,
	}
}

// labHostXML is one lab host on the wire.
type labHostXML struct {
	Name        string `xml:"name"`
	Namespace   string `xml:"namespace"` // what ip netns exec takes: <name>.<account>
	VpcID       string `xml:"vpcId"`
	IPv4Address string `xml:"ipv4Address"`
	IPv6Address string `xml:"ipv6Address,omitempty"`
	OwnerID     string `xml:"ownerId"`
	HostID      string `xml:"hostId,omitempty"` // the host whose router it is attached to
}

func labHostOf(h *model.LabHost) labHostXML {
	out := labHostXML{Name: h.Name, Namespace: h.Namespace(), VpcID: string(h.VPC), IPv4Address: h.IPv4.String(), OwnerID: string(h.Account), HostID: string(h.Host)}
	if h.IPv6.IsValid() {
		out.IPv6Address = h.IPv6.String()
	}
	return out
}

func parseCreateLabHost(p *Params) (service.CreateLabHostInput, error) {
	name, err := p.Required("Name")
	if err != nil {
		return service.CreateLabHostInput{}, err
	}
	vpc, err := p.Required("VpcId")
	if err != nil {
		return service.CreateLabHostInput{}, err
	}
	ip, err := p.Required("Ipv4Address")
	if err != nil {
		return service.CreateLabHostInput{}, err
	}
	return service.CreateLabHostInput{Name: name, VpcID: vpc, IPv4: ip, IPv6: p.String("Ipv6Address"), Host: p.String("Host")}, nil
}

func runCreateLabHost(c *Call, in service.CreateLabHostInput) (any, error) {
	h, err := c.Service.CreateLabHost(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	return struct {
		Host labHostXML `xml:"labHost"`
	}{labHostOf(h)}, nil
}

func parseLabHostName(p *Params) (string, error) { return p.Required("Name") }

func runDeleteLabHost(c *Call, name string) (any, error) {
	if err := c.Service.DeleteLabHost(c.Ctx, c.Caller, name); err != nil {
		return nil, err
	}
	return returnTrue, nil
}

func runDescribeLabHosts(c *Call, _ struct{}) (any, error) {
	hs, err := c.Service.ListLabHosts(c.Ctx, c.Caller)
	if err != nil {
		return nil, err
	}
	out := Set[labHostXML]{}
	for i := range hs {
		out = append(out, labHostOf(&hs[i]))
	}
	return struct {
		Hosts Set[labHostXML] `xml:"labHostSet"`
	}{out}, nil
}
