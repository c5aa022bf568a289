// Binary: memcached's binary protocol is not spoken; a client that uses it
// gets one binary error response so that it learns so at once.
package protocol

import (
	"encoding/binary"
	"io"
)

// Binary protocol constants (memcached's protocol_binary.h).
const (
	BinaryRequestMagic  = 0x80
	binaryResponseMagic = 0x81
	binaryHeaderLen     = 24
	// BinaryUnknownCommand is the status shepherd answers binary requests
	// with: PROTOCOL_BINARY_RESPONSE_UNKNOWN_COMMAND.
	BinaryUnknownCommand = 0x0081
)

// binaryRefusal is the body of the error response.
const binaryRefusal = "binary protocol not supported; use the text protocol"

// IsBinary reports whether the connection's next byte starts a binary
// protocol request. It waits for that byte.
func (r *Reader) IsBinary() (bool, error) {
	b, err := r.br.Peek(1)
	if err != nil {
		return false, err
	}
	return b[0] == BinaryRequestMagic, nil
}

// BinaryHeader reads the 24-byte header of the binary request IsBinary
// found, or as much of it as arrives; a short header reads as zeros.
func (r *Reader) BinaryHeader() [binaryHeaderLen]byte {
	var h [binaryHeaderLen]byte
	io.ReadFull(r.br, h[:])
	return h
}

// AppendBinaryError appends the binary response to the request whose
// header is req: magic 0x81, the request's opcode and opaque, status
// "unknown command", and a short text body.
func AppendBinaryError(dst []byte, req [binaryHeaderLen]byte) []byte {
	var h [binaryHeaderLen]byte
	h[0] = binaryResponseMagic
	h[1] = req[1] // opcode
	binary.BigEndian.PutUint16(h[6:8], BinaryUnknownCommand)
	binary.BigEndian.PutUint32(h[8:12], uint32(len(binaryRefusal)))
	copy(h[12:16], req[12:16]) // opaque
	dst = append(dst, h[:]...)
	return append(dst, binaryRefusal...)
}
