package metainfo

import (
	"errors"
	"fmt"
)

// Sentinel errors for the conditions a caller may branch on. Parse returns
// them wrapped in an *Error naming the field; test with errors.Is.
var (
	ErrNotDict           = errors.New("torrent is not a bencoded dictionary")
	ErrMissingInfo       = errors.New("missing or invalid info dictionary")
	ErrMissingName       = errors.New("missing or invalid name")
	ErrBadPieceLength    = errors.New("invalid piece length")
	ErrInvalidPieces     = errors.New("invalid pieces")
	ErrBadLength         = errors.New("invalid length")
	ErrNoFiles           = errors.New("no files")
	ErrBadPath           = errors.New("invalid path")
	ErrBadFileTree       = errors.New("invalid file tree")
	ErrMissingPiecesRoot = errors.New("missing pieces root")
	ErrBadPieceLayers    = errors.New("invalid piece layers")
	ErrInconsistentFiles = errors.New("v1 and v2 file lists differ")
	ErrUnsupported       = errors.New("unsupported meta version")
	ErrTooManyPieces     = errors.New("too many pieces")
)

// Error reports an invalid field of a torrent. Field is the dotted path of the
// field, e.g. "info.pieces" or "info.files[2].path[0]"; Err wraps one of the
// sentinels above.
type Error struct {
	Field string
	Err   error
}

// Error returns e.g. "info.pieces: length 119 is not a multiple of 20".
func (e *Error) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// detail is a specific message that still matches its sentinel with
// errors.Is, so messages need not repeat the sentinel's text.
type detail struct {
	kind error
	msg  string
}

func (d *detail) Error() string { return d.msg }
func (d *detail) Unwrap() error { return d.kind }

// fieldErr builds an *Error for field whose message is the formatted text and
// whose cause is kind.
func fieldErr(field string, kind error, format string, args ...any) *Error {
	return &Error{Field: field, Err: &detail{kind: kind, msg: fmt.Sprintf(format, args...)}}
}
