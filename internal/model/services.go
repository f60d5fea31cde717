package model

import "strings"

// Service is a well-known rule type, as the EC2 console offers them ("SSH",
// "HTTPS", "All traffic"): a protocol and a port range (or ICMP filter).
// The CLI and the console use this table to name rules and to let users
// write "--service ssh".
type Service struct {
	Name     string
	Protocol Protocol
	Ports    PortRange  // tcp/udp
	ICMP     ICMPFilter // icmp
	// Custom services take their ports from the user.
	Custom bool
}

func tcpSvc(name string, port uint16) Service {
	return Service{Name: name, Protocol: ProtocolOf(ProtoTCP), Ports: PortRange{port, port}}
}

// Services is the table of well-known types, in the order the console lists
// them. Port 22 serves both SSH and SFTP: a rule on tcp/22 is shown as SSH,
// the first entry that matches. DNS has a UDP and a TCP entry.
var Services = []Service{
	tcpSvc("SSH", 22),
	tcpSvc("SFTP", 22),
	tcpSvc("FTP", 21),
	tcpSvc("HTTP", 80),
	tcpSvc("HTTPS", 443),
	tcpSvc("RDP", 3389),
	tcpSvc("SMTP", 25),
	tcpSvc("SMTPS", 465),
	{Name: "DNS (UDP)", Protocol: ProtocolOf(ProtoUDP), Ports: PortRange{53, 53}},
	tcpSvc("DNS (TCP)", 53),
	tcpSvc("POP3", 110),
	tcpSvc("POP3S", 995),
	tcpSvc("IMAP", 143),
	tcpSvc("IMAPS", 993),
	tcpSvc("LDAP", 389),
	tcpSvc("SMB", 445),
	tcpSvc("MS SQL", 1433),
	tcpSvc("Oracle-RDS", 1521),
	tcpSvc("NFS", 2049),
	tcpSvc("MySQL/Aurora", 3306),
	tcpSvc("PostgreSQL", 5432),
	tcpSvc("Redis", 6379),
	tcpSvc("WinRM-HTTP", 5985),
	tcpSvc("WinRM-HTTPS", 5986),
	{Name: "All TCP", Protocol: ProtocolOf(ProtoTCP), Ports: AllPorts},
	{Name: "All UDP", Protocol: ProtocolOf(ProtoUDP), Ports: AllPorts},
	{Name: "All ICMP - IPv4", Protocol: ProtocolOf(ProtoICMP), ICMP: AnyICMP},
	{Name: "All ICMP - IPv6", Protocol: ProtocolOf(ProtoICMPv6), ICMP: AnyICMP},
	{Name: "All traffic", Protocol: AllProtocols},
	{Name: "Custom TCP", Protocol: ProtocolOf(ProtoTCP), Custom: true},
	{Name: "Custom UDP", Protocol: ProtocolOf(ProtoUDP), Custom: true},
	{Name: "Custom ICMP - IPv4", Protocol: ProtocolOf(ProtoICMP), Custom: true},
	{Name: "Custom ICMP - IPv6", Protocol: ProtocolOf(ProtoICMPv6), Custom: true},
	{Name: "Custom protocol", Protocol: AllProtocols, Custom: true},
}

// ServiceName names the type of a rule as the console shows it: the first
// fixed service whose protocol and ports equal the rule's ("SSH" for tcp/22,
// "All traffic" for -1), else the custom type for its protocol.
func ServiceName(r Rule) string {
	for _, s := range Services {
		if !s.Custom && s.Protocol == r.Protocol && s.Ports == r.Ports && s.ICMP == r.ICMP {
			return s.Name
		}
	}
	n, _ := r.Protocol.Number()
	switch n {
	case ProtoTCP:
		return "Custom TCP"
	case ProtoUDP:
		return "Custom UDP"
	case ProtoICMP:
		return "Custom ICMP - IPv4"
	case ProtoICMPv6:
		return "Custom ICMP - IPv6"
	}
	return "Custom protocol"
}

// LookupService finds the fixed services called name, without regard to
// case, spaces or punctuation ("ssh", "mysql-aurora", "dns" finds both DNS
// entries, "all-traffic").
func LookupService(name string) []Service {
	want := squash(name)
	var out []Service
	for _, s := range Services {
		if s.Custom {
			continue
		}
		got := squash(s.Name)
		if got == want || (want == "dns" && strings.HasPrefix(got, "dns")) {
			out = append(out, s)
		}
	}
	return out
}

// squash lower-cases s and drops everything but letters and digits.
func squash(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}
