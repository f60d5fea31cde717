package ec2api

import "palisade.dev/palisade/internal/service"

// accountActions serves what describes the account and its region.
func accountActions() Table {
	return Table{
		"DescribeAccountAttributes": Action(parseDescribeAccountAttributes, runDescribeAccountAttributes),
		"DescribeRegions":           Action(parseDescribeRegions, runDescribeRegions),
		"DescribeAvailabilityZones": Action(parseDescribeAvailabilityZones, runDescribeAvailabilityZones),
	}
}

func parseDescribeAccountAttributes(p *Params) ([]string, error) { return p.Strings("AttributeName") }

func runDescribeAccountAttributes(c *Call, names []string) (any, error) {
	attrs, err := c.Service.DescribeAccountAttributes(c.Ctx, c.Caller, names)
	if err != nil {
		return nil, err
	}
	out := accountAttributesXML{Attributes: make(Set[accountAttributeXML], len(attrs))}
	for i, a := range attrs {
		x := accountAttributeXML{Name: a.Name, Values: make(Set[accountAttributeValueXML], len(a.Values))}
		for j, v := range a.Values {
			x.Values[j] = accountAttributeValueXML{v}
		}
		out.Attributes[i] = x
	}
	return out, nil
}

// regionsInput is DescribeRegions' request. AllRegions is read and has no
// effect: every region is enabled in Palisade (service.DescribeRegions).
type regionsInput struct {
	Names   []string
	Filters []service.Filter
}

func parseDescribeRegions(p *Params) (regionsInput, error) {
	if _, err := p.Bool("AllRegions"); err != nil {
		return regionsInput{}, err
	}
	names, err := p.Strings("RegionName")
	if err != nil {
		return regionsInput{}, err
	}
	filters, err := readFilters(p)
	return regionsInput{names, filters}, err
}

func runDescribeRegions(c *Call, in regionsInput) (any, error) {
	regions, err := c.Service.DescribeRegions(c.Ctx, c.Caller, in.Names, in.Filters)
	if err != nil {
		return nil, err
	}
	out := regionsXML{Regions: make(Set[regionXML], len(regions))}
	for i, r := range regions {
		out.Regions[i] = regionXML{r.Name, r.Endpoint, r.OptInStatus}
	}
	return out, nil
}

// zonesInput is DescribeAvailabilityZones' request. AllAvailabilityZones
// is read and has no effect: it adds Local and Wavelength Zones, which
// Palisade does not have.
type zonesInput struct {
	Names, IDs []string
	Filters    []service.Filter
}

func parseDescribeAvailabilityZones(p *Params) (zonesInput, error) {
	if _, err := p.Bool("AllAvailabilityZones"); err != nil {
		return zonesInput{}, err
	}
	names, err := p.Strings("ZoneName")
	if err != nil {
		return zonesInput{}, err
	}
	ids, err := p.Strings("ZoneId")
	if err != nil {
		return zonesInput{}, err
	}
	filters, err := readFilters(p)
	return zonesInput{names, ids, filters}, err
}

func runDescribeAvailabilityZones(c *Call, in zonesInput) (any, error) {
	zones, err := c.Service.DescribeAvailabilityZones(c.Ctx, c.Caller, in.Names, in.IDs, in.Filters)
	if err != nil {
		return nil, err
	}
	out := zonesXML{Zones: make(Set[zoneXML], len(zones))}
	for i, z := range zones {
		out.Zones[i] = zoneXML{
			ZoneName: z.Name, ZoneID: z.ID, State: z.State, RegionName: z.Region, GroupName: z.Region,
			NetworkBorderGroup: z.Region, ZoneType: "availability-zone", OptInStatus: "opt-in-not-required",
			Messages: Set[struct{}]{},
		}
	}
	return out, nil
}

// zoneIDs maps the caller's zone names to zone IDs ("us-east-1a" →
// "use1-az1"), as DescribeAvailabilityZones names them, for the shapes that
// show a zone ID beside a zone name.
func zoneIDs(c *Call) (map[string]string, error) {
	zones, err := c.Service.DescribeAvailabilityZones(c.Ctx, c.Caller, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(zones))
	for _, z := range zones {
		out[z.Name] = z.ID
	}
	return out, nil
}

// Response shapes, with the element names aws-sdk-go-v2 decodes.

type accountAttributesXML struct {
	Attributes Set[accountAttributeXML] `xml:"accountAttributeSet"`
}

type accountAttributeXML struct {
	Name   string                        `xml:"attributeName"`
	Values Set[accountAttributeValueXML] `xml:"attributeValueSet"`
}

type accountAttributeValueXML struct {
	Value string `xml:"attributeValue"`
}

type regionsXML struct {
	Regions Set[regionXML] `xml:"regionInfo"`
}

type regionXML struct {
	Name        string `xml:"regionName"`
	Endpoint    string `xml:"regionEndpoint"`
	OptInStatus string `xml:"optInStatus"`
}

type zonesXML struct {
	Zones Set[zoneXML] `xml:"availabilityZoneInfo"`
}

type zoneXML struct {
	ZoneName           string        `xml:"zoneName"`
	ZoneID             string        `xml:"zoneId"`
	State              string        `xml:"zoneState"`
	RegionName         string        `xml:"regionName"`
	GroupName          string        `xml:"groupName"`
	NetworkBorderGroup string        `xml:"networkBorderGroup"`
	ZoneType           string        `xml:"zoneType"`
	OptInStatus        string        `xml:"optInStatus"`
	Messages           Set[struct{}] `xml:"messageSet"`
}
