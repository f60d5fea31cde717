package lab

import (
	"strings"

	"palisade.dev/palisade/internal/model"
)

// markerTag starts the alias of everything the lab made. The version lets a
// later layout recognise (and migrate) what this one left.
const markerTag = "palisade-lab/v1"

// Roles a marker gives a namespace (on its lo) or an interface.
const (
	roleRouter   = "router"   // namespace: a VPC's router
	roleInstance = "instance" // namespace: an instance
	roleHost     = "host"     // namespace: a lab host; or either end of its veth
	roleNIC      = "nic"      // either end of an instance's veth
)

// marker is what the lab writes in an interface alias. Fields are empty when
// they do not apply.
type marker struct {
	role   string
	vpc    model.VpcID // VPC id (namespaces)
	router string      // router namespace name (namespaces)
	eni    model.ENIID // ENI id (veth ends of instances)
	ns     string      // namespace at the other end (router-side veth ends)
	dev    string      // interface name at the other end (router-side veth ends)
}

// String renders m as the alias "palisade-lab/v1 role=… key=value …".
func (m marker) String() string {
	var b strings.Builder
	b.WriteString(markerTag)
	for _, kv := range [][2]string{
		{"role", m.role}, {"vpc", string(m.vpc)}, {"router", m.router},
		{"eni", string(m.eni)}, {"ns", m.ns}, {"dev", m.dev},
	} {
		if kv[1] != "" {
			b.WriteString(" " + kv[0] + "=" + kv[1])
		}
	}
	return b.String()
}

// parseMarker reads an alias written by String; ok is false for any other
// alias, including markers of another layout version.
func parseMarker(alias string) (m marker, ok bool) {
	fields := strings.Fields(alias)
	if len(fields) < 2 || fields[0] != markerTag {
		return marker{}, false
	}
	for _, f := range fields[1:] {
		k, v, found := strings.Cut(f, "=")
		if !found || !m.set(k, v) {
			return marker{}, false
		}
	}
	return m, m.role != ""
}

func (m *marker) set(k, v string) bool {
	switch k {
	case "role":
		m.role = v
	case "vpc":
		m.vpc = model.VpcID(v)
	case "router":
		m.router = v
	case "eni":
		m.eni = model.ENIID(v)
	case "ns":
		m.ns = v
	case "dev":
		m.dev = v
	default:
		return false
	}
	return true
}
