package ec2api

import (
	"crypto/rand"
	"fmt"
)

// NewRequestID returns a random version 4 UUID, the shape of EC2's request
// IDs ("59dbff89-35bd-4eac-99ed-be587ebc2d3c").
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand aborts the program instead
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
