package ec2api

import (
	"strings"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// This file holds what the action files share: the wire forms of filters,
// pages and tags, and the small response shapes many actions answer with.
// Everything here translates; none of it decides.

// readFilters reads Filter.N.Name and Filter.N.Value.M. Names and values are
// passed on as sent: the service knows which filters a resource has.
func readFilters(p *Params) ([]service.Filter, error) {
	elems, err := p.List("Filter")
	if err != nil {
		return nil, err
	}
	out := make([]service.Filter, 0, len(elems))
	for _, e := range elems {
		values, err := e.Strings("Value")
		if err != nil {
			return nil, err
		}
		out = append(out, service.Filter{Name: e.String("Name"), Values: values})
	}
	return out, nil
}

// readPage reads MaxResults and NextToken; the service checks their values.
func readPage(p *Params) (service.Page, error) {
	max, err := p.OptInt32("MaxResults")
	if err != nil {
		return service.Page{}, err
	}
	page := service.Page{NextToken: p.String("NextToken")}
	if max != nil {
		page.MaxResults = *max
	}
	return page, nil
}

// readDescribe reads what every Describe action takes besides its IDs:
// Filter.N, MaxResults and NextToken.
func readDescribe(p *Params) ([]service.Filter, service.Page, error) {
	filters, err := readFilters(p)
	if err != nil {
		return nil, service.Page{}, err
	}
	page, err := readPage(p)
	return filters, page, err
}

// readTags reads a list of Key/Value structures (Tag.N, or
// TagSpecification.N.Tag.M) as sent, duplicates included: the service
// validates them.
func readTags(p *Params, name string) (model.Tags, error) {
	elems, err := p.List(name)
	if err != nil {
		return nil, err
	}
	tags := make(model.Tags, 0, len(elems))
	for _, e := range elems {
		tags = append(tags, model.Tag{Key: e.String("Key"), Value: e.String("Value")})
	}
	return tags, nil
}

// readTagSpecs reads TagSpecification.N.{ResourceType,Tag.M.{Key,Value}} of
// an action that may tag the allowed resource types, and returns the tags
// by resource type, validated by service.SpecTags.
func readTagSpecs(p *Params, allowed ...string) (map[string]model.Tags, error) {
	specs, err := readRawTagSpecs(p)
	if err != nil {
		return nil, err
	}
	return service.SpecTags(specs, allowed...)
}

// readRawTagSpecs reads TagSpecification.N as sent, for the service
// operations that validate tag specifications themselves.
func readRawTagSpecs(p *Params) ([]service.TagSpecification, error) {
	elems, err := p.List("TagSpecification")
	if err != nil {
		return nil, err
	}
	specs := make([]service.TagSpecification, 0, len(elems))
	for _, e := range elems {
		tags, err := readTags(e, "Tag")
		if err != nil {
			return nil, err
		}
		specs = append(specs, service.TagSpecification{ResourceType: e.String("ResourceType"), Tags: tags})
	}
	return specs, nil
}

// readTagSpec reads the TagSpecification of an action that tags one
// resource type.
func readTagSpec(p *Params, resourceType string) (model.Tags, error) {
	specs, err := readTagSpecs(p, resourceType)
	return specs[resourceType], err
}

// readGroupRef reads GroupId and GroupName (the latter addresses groups of
// the default VPC; the service resolves it).
func readGroupRef(p *Params) service.GroupRef {
	return service.GroupRef{ID: p.String("GroupId"), Name: p.String("GroupName")}
}

// tagXML is one element of a tagSet.
type tagXML struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func tagSet(tags model.Tags) Set[tagXML] {
	out := make(Set[tagXML], len(tags))
	for i, t := range tags {
		out[i] = tagXML{t.Key, t.Value}
	}
	return out
}

// returnXML is the body of the many actions that answer <return>true</return>.
type returnXML struct {
	Return bool `xml:"return"`
}

var returnTrue = returnXML{Return: true}

// groupIdentifierXML is one element of a groupSet.
type groupIdentifierXML struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName,omitempty"`
}

// arn renders an EC2 ARN: arn:aws:ec2:<region>:<account>:<type>/<id>.
func arn(s model.Scope, resourceType, id string) string {
	return "arn:aws:ec2:" + s.Region + ":" + string(s.Account) + ":" + resourceType + "/" + id
}

// idDigits returns the hex digits of a resource ID ("vpc-0a1b…" → "0a1b…"),
// from which the IDs of things Palisade does not store separately
// (CIDR associations) are derived, so that they are stable.
func idDigits(id string) string {
	_, rest, _ := strings.Cut(id, "-")
	return rest
}

// wireTime renders a time as EC2 does: UTC, ISO 8601 with milliseconds.
func wireTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// readConntrack reads a ConnectionTrackingSpecification structure
// ({TcpEstablishedTimeout,UdpStreamTimeout,UdpTimeout}, in seconds) under
// name; given reports whether any of the three was sent. A timeout is a
// count of seconds, so a negative one is not a value of the type.
func readConntrack(p *Params, name string) (t model.ConntrackTimeouts, given bool, err error) {
	fields := []struct {
		name string
		dst  *uint32
	}{{"TcpEstablishedTimeout", &t.TCPEstablished}, {"UdpStreamTimeout", &t.UDPStream}, {"UdpTimeout", &t.UDP}}
	for _, f := range fields {
		full := name + "." + f.name
		v, err := p.OptInt32(full)
		if err != nil {
			return t, false, err
		}
		if v == nil {
			continue
		}
		if *v < 0 {
			return t, false, model.Errorf(model.CodeInvalidParameterValue,
				"Value (%d) for parameter %s is invalid. Expecting a number of seconds.", *v, p.Name(full))
		}
		*f.dst, given = uint32(*v), true
	}
	return t, given, nil
}

// conntrackXML is a ConnectionTrackingConfiguration, in seconds.
type conntrackXML struct {
	TCPEstablished uint32 `xml:"tcpEstablishedTimeout"`
	UDPStream      uint32 `xml:"udpStreamTimeout"`
	UDP            uint32 `xml:"udpTimeout"`
}

// conntrackOf renders an interface's timeouts with AWS's defaults filled
// in, so that clients see the values in force.
func conntrackOf(c model.ConntrackTimeouts) *conntrackXML {
	e := c.Effective()
	return &conntrackXML{e.TCPEstablished, e.UDPStream, e.UDP}
}

// attrValueXML is an AttributeValue: <value> text, absent when unknown.
type attrValueXML struct {
	Value *string `xml:"value,omitempty"`
}

// attrBoolXML is an AttributeBooleanValue.
type attrBoolXML struct {
	Value bool `xml:"value"`
}
