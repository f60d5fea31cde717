// Package model holds Palisade's nouns: accounts, regions, VPCs, subnets,
// instances, network interfaces, security groups, rules and tags; their ID
// formats; and the validation and canonicalization of single values, each
// failure an *Error carrying the EC2 error code.
//
// model is pure: it takes values and returns values. It does no I/O, reads
// no clock and draws no randomness of its own (ID generation takes the
// random source as an argument).
package model
