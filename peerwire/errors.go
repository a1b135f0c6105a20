package peerwire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// Sentinel causes wrapped by *Error, for callers that branch on them (a
// verifier counting peers by reason, a metadata fetcher dropping a peer).
var (
	// ErrRefused: nothing listens at the address (TCP RST to our SYN).
	ErrRefused = errors.New("connection refused")
	// ErrTimeout: the peer did not connect or answer in time.
	ErrTimeout = errors.New("timed out")
	// ErrReset: the peer reset the connection (TCP RST after it was open).
	ErrReset = errors.New("connection reset")
	// ErrClosed: the peer closed the connection before the operation was
	// complete. Right after our handshake it is how libtorrent and
	// Transmission turn away an info hash they do not serve.
	ErrClosed = errors.New("connection closed by the peer")
	// ErrNotBitTorrent: the first bytes the peer sent are not a BEP 3
	// handshake (another protocol on that port, or garbage).
	ErrNotBitTorrent = errors.New("not a BitTorrent handshake")
	// ErrWrongInfoHash: the peer answered the handshake for another info
	// hash than the one we asked for.
	ErrWrongInfoHash = errors.New("peer answered for another info hash")
	// ErrTooLarge: a length the peer sent exceeds its limit (a message
	// length prefix, a bitfield, metadata_size).
	ErrTooLarge = errors.New("length over the limit")
	// ErrProtocol: a message that breaks the protocol (malformed
	// bencoding, a bitfield of the wrong size, a message out of place).
	ErrProtocol = errors.New("protocol violation")
	// ErrNoMetadata: the peer does not offer the metadata (no ut_metadata in
	// its extension handshake, or no metadata_size).
	ErrNoMetadata = errors.New("peer does not offer the metadata (BEP 9)")
	// ErrMetadataRejected: the peer answered a metadata request with a
	// reject (BEP 9 msg_type 2).
	ErrMetadataRejected = errors.New("metadata request rejected")
	// ErrMetadataHash: the assembled metadata does not hash to the info
	// hash (BEP 9: the receiver must check it; BEP 52 for SHA-256).
	ErrMetadataHash = errors.New("metadata does not match the info hash")
)

// Error is the error of every operation on one peer: where (Addr), what we
// were doing (Op: "connect", "handshake", "extension handshake", "read",
// "metadata", ...) and why (Err, wrapping one of the sentinels above where
// one applies, and the cause from the net package).
type Error struct {
	Addr netip.AddrPort
	Op   string
	Err  error
}

func (e *Error) Error() string { return "peer " + e.Addr.String() + ": " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// kindError wraps a cause under a sentinel so that errors.Is finds the
// sentinel and errors.As still finds the cause (*net.OpError, ...).
type kindError struct {
	kind  error
	cause error
}

func (e *kindError) Error() string {
	if c := e.cause.Error(); strings.Contains(c, e.kind.Error()) {
		return c // "connect: connection refused" says it already
	}
	return e.kind.Error() + ": " + e.cause.Error()
}
func (e *kindError) Unwrap() []error { return []error{e.kind, e.cause} }

// classify maps a transport error to ErrRefused, ErrTimeout, ErrReset or
// ErrClosed when it is one of those, keeping the cause. Errors that already
// carry one of our sentinels pass unchanged.
func classify(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range []error{ErrRefused, ErrTimeout, ErrReset, ErrClosed, ErrNotBitTorrent, ErrWrongInfoHash,
		ErrTooLarge, ErrProtocol, ErrNoMetadata, ErrMetadataRejected, ErrMetadataHash} {
		if errors.Is(err, s) {
			return err
		}
	}
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &kindError{ErrRefused, err}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return &kindError{ErrReset, err}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &kindError{ErrClosed, err}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &kindError{ErrTimeout, err}
	}
	return err
}

// protoErr is an ErrProtocol with what was wrong.
func protoErr(format string, args ...any) error {
	return &kindError{ErrProtocol, fmt.Errorf(format, args...)}
}

// tooLarge is an ErrTooLarge naming the length and its limit.
func tooLarge(what string, n, limit int64) error {
	return &kindError{ErrTooLarge, fmt.Errorf("%s of %d bytes, limit %d", what, n, limit)}
}
