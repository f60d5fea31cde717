package ec2api

import (
	"strconv"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// prefixListActions serves customer-managed prefix lists, which rules may
// use as their peer.
func prefixListActions() Table {
	return Table{
		"CreateManagedPrefixList":     Action(parseCreateManagedPrefixList, runCreateManagedPrefixList),
		"ModifyManagedPrefixList":     Action(parseModifyManagedPrefixList, runModifyManagedPrefixList),
		"DeleteManagedPrefixList":     Action(parsePrefixListID, runDeleteManagedPrefixList),
		"DescribeManagedPrefixLists":  Action(parseDescribeManagedPrefixLists, runDescribeManagedPrefixLists),
		"GetManagedPrefixListEntries": Action(parseGetManagedPrefixListEntries, runGetManagedPrefixListEntries),
	}
}

func parseCreateManagedPrefixList(p *Params) (service.CreateManagedPrefixListInput, error) {
	in := service.CreateManagedPrefixListInput{
		Name: p.String("PrefixListName"), AddressFamily: p.String("AddressFamily"), ClientToken: p.String("ClientToken"),
	}
	var err error
	if in.MaxEntries, err = p.OptInt32("MaxEntries"); err != nil {
		return in, err
	}
	if in.Entries, err = readEntries(p, "Entry", true); err != nil {
		return in, err
	}
	in.TagSpecifications, err = readRawTagSpecs(p)
	return in, err
}

// readEntries reads a list of {Cidr,Description} (Entry.N, AddEntry.N) or,
// without descriptions, of {Cidr} (RemoveEntry.N).
func readEntries(p *Params, name string, described bool) ([]service.PrefixListEntrySpec, error) {
	elems, err := p.List(name)
	if err != nil {
		return nil, err
	}
	var out []service.PrefixListEntrySpec
	for _, e := range elems {
		spec := service.PrefixListEntrySpec{CIDR: e.String("Cidr")}
		if described {
			spec.Description = e.String("Description")
		}
		out = append(out, spec)
	}
	return out, nil
}

func runCreateManagedPrefixList(c *Call, in service.CreateManagedPrefixListInput) (any, error) {
	return prefixListResponse(c.Service.CreateManagedPrefixList(c.Ctx, c.Caller, in))
}

func parseModifyManagedPrefixList(p *Params) (service.ModifyManagedPrefixListInput, error) {
	in := service.ModifyManagedPrefixListInput{PrefixListID: p.String("PrefixListId"), Name: p.String("PrefixListName")}
	var err error
	if in.CurrentVersion, err = optInt64(p, "CurrentVersion"); err != nil {
		return in, err
	}
	if in.MaxEntries, err = p.OptInt32("MaxEntries"); err != nil {
		return in, err
	}
	if in.AddEntries, err = readEntries(p, "AddEntry", true); err != nil {
		return in, err
	}
	in.RemoveEntries, err = readEntries(p, "RemoveEntry", false)
	return in, err
}

func runModifyManagedPrefixList(c *Call, in service.ModifyManagedPrefixListInput) (any, error) {
	return prefixListResponse(c.Service.ModifyManagedPrefixList(c.Ctx, c.Caller, in))
}

func parsePrefixListID(p *Params) (string, error) { return p.Required("PrefixListId") }

func runDeleteManagedPrefixList(c *Call, id string) (any, error) {
	return prefixListResponse(c.Service.DeleteManagedPrefixList(c.Ctx, c.Caller, id))
}

func prefixListResponse(pl *service.ManagedPrefixList, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return prefixListXMLResponse{prefixListOf(pl)}, nil
}

func parseDescribeManagedPrefixLists(p *Params) (service.DescribeManagedPrefixListsInput, error) {
	in, err := parseDescribe("PrefixListId")(p)
	return service.DescribeManagedPrefixListsInput(in), err
}

func runDescribeManagedPrefixLists(c *Call, in service.DescribeManagedPrefixListsInput) (any, error) {
	lists, next, err := c.Service.DescribeManagedPrefixLists(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	out := describePrefixListsXML{PrefixLists: make(Set[prefixListXML], len(lists)), NextToken: next}
	for i := range lists {
		out.PrefixLists[i] = prefixListOf(&lists[i])
	}
	return out, nil
}

// entriesInput is GetManagedPrefixListEntries' request.
type entriesInput struct {
	ID            string
	TargetVersion *int64
	Page          service.Page
}

func parseGetManagedPrefixListEntries(p *Params) (entriesInput, error) {
	in := entriesInput{ID: p.String("PrefixListId")}
	var err error
	if in.TargetVersion, err = optInt64(p, "TargetVersion"); err != nil {
		return in, err
	}
	in.Page, err = readPage(p)
	return in, err
}

func runGetManagedPrefixListEntries(c *Call, in entriesInput) (any, error) {
	entries, next, err := c.Service.GetManagedPrefixListEntries(c.Ctx, c.Caller, in.ID, in.TargetVersion, in.Page)
	if err != nil {
		return nil, err
	}
	out := prefixListEntriesXML{Entries: make(Set[prefixListEntryXML], len(entries)), NextToken: next}
	for i, e := range entries {
		out.Entries[i] = prefixListEntryXML{e.CIDR.String(), e.Description}
	}
	return out, nil
}

// optInt64 reads an optional 64-bit integer (a prefix list version).
func optInt64(p *Params, name string) (*int64, error) {
	s, ok := p.OptString(name)
	if !ok {
		return nil, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter %s is invalid. Expecting a 64-bit integer.",
			clipValue(s), p.Name(name))
	}
	return &v, nil
}

// Response shapes, with the element names aws-sdk-go-v2 decodes.

type prefixListXMLResponse struct {
	PrefixList prefixListXML `xml:"prefixList"`
}

type describePrefixListsXML struct {
	PrefixLists Set[prefixListXML] `xml:"prefixListSet"`
	NextToken   string             `xml:"nextToken,omitempty"`
}

type prefixListXML struct {
	PrefixListID   string      `xml:"prefixListId"`
	AddressFamily  string      `xml:"addressFamily"`
	State          string      `xml:"state"`
	PrefixListArn  string      `xml:"prefixListArn"`
	PrefixListName string      `xml:"prefixListName"`
	MaxEntries     int         `xml:"maxEntries"`
	Version        int64       `xml:"version"`
	Tags           Set[tagXML] `xml:"tagSet"`
	OwnerID        string      `xml:"ownerId"`
}

func prefixListOf(pl *service.ManagedPrefixList) prefixListXML {
	return prefixListXML{
		PrefixListID: string(pl.ID), AddressFamily: pl.AddressFamily, State: pl.State,
		PrefixListArn: arn(pl.Scope, "prefix-list", string(pl.ID)), PrefixListName: pl.Name,
		MaxEntries: pl.MaxEntries, Version: pl.Version, Tags: tagSet(pl.Tags), OwnerID: string(pl.Account),
	}
}

type prefixListEntriesXML struct {
	Entries   Set[prefixListEntryXML] `xml:"entrySet"`
	NextToken string                  `xml:"nextToken,omitempty"`
}

type prefixListEntryXML struct {
	CIDR        string `xml:"cidr"`
	Description string `xml:"description,omitempty"`
}
