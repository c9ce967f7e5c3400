// Package message holds the plain values that cross the transport seam:
// requests, replies, failures and notifications. It depends on no other
// package of warren, so the wire codec (internal/wire), the transport
// interface and the drivers all share these values without import loops.
//
// The values are plain data: a function that receives one does not modify
// it, and a driver that must fill a field works on its own copy.
package message
