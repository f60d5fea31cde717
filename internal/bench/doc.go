// Package bench holds Palisade's two harnesses that run against the real
// kernel, behind `palisade bench` (see the README's "Benchmarks"):
//
//   - RunDifferential builds a lab with Palisade's table and sends random
//     first packets, crafted on packet sockets, between its instances and
//     lab hosts under random policies; every packet seen (or not) at its
//     receiver is compared with explain's verdict (policy.Compiled.Explain).
//   - RunDataplane starts a control plane in the process, creates a large
//     scenario through the EC2 API and measures connection rate and
//     throughput against a no-firewall baseline wired the same way, the
//     time from an API call to enforcement, and kernel commit times.
//
// Like cmd/palisade it wires every other package together, and so it may
// import any of them. Everything it makes lives in namespaces of its own
// lab prefixes, and is removed before its functions return.
package bench
