package ec2api

import (
	"net"
	"net/http"
	"net/netip"

	"palisade.dev/palisade/internal/model"
)

// callerActions tell callers about themselves as the server sees them.
// They are Palisade's own (no DryRun).
func callerActions() Table {
	addr := Action(parseNothing, runGetCallerAddress)
	addr.DryRun = false
	return Table{"PalisadeGetCallerAddress": addr}
}

// runGetCallerAddress answers the address the request came from, what
// "My IP" means for a rule (palisade allow --my-ip): behind a proxy or NAT
// it is the proxy's or the NAT's, as AWS's console's My IP is.
func runGetCallerAddress(c *Call, _ struct{}) (any, error) {
	if !c.Remote.IsValid() {
		return nil, model.Errorf(model.CodeInvalidParameterValue, "The address this request came from is unknown.")
	}
	return struct {
		Address string `xml:"sourceAddress"`
	}{c.Remote.String()}, nil
}

// remoteAddr is the address a request came from (its connection's peer).
func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}
