package wire

import (
	"fmt"
	"math"
	"strings"
)

// maxMode bounds the permission and set-id/sticky bits in a mode.
const maxMode = 0o7777

func validType(t FileType) bool {
	return t >= TypeFile && t <= TypeBlock
}

// validTarget checks a symlink target: non-empty, no NUL, at most MaxPath
// bytes. Targets may be absolute or hold ".."; they are stored, not
// followed.
func validTarget(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty symlink target", ErrProtocol)
	case len(s) > MaxPath:
		return fmt.Errorf("%w: symlink target of %d bytes", ErrProtocol, len(s))
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%w: NUL in symlink target %q", ErrProtocol, s)
	}
	return nil
}

// Validate checks that MinVersion is at least 1 and at most MaxVersion, and
// that Software is at most 256 bytes.
func (m *Hello) Validate() error {
	switch {
	case m.MinVersion == 0:
		return fmt.Errorf("%w: Hello.MinVersion is 0", ErrProtocol)
	case m.MinVersion > m.MaxVersion:
		return fmt.Errorf("%w: Hello version range %d..%d is empty", ErrProtocol, m.MinVersion, m.MaxVersion)
	case len(m.Software) > maxSoftware:
		return fmt.Errorf("%w: Hello.Software of %d bytes exceeds %d", ErrProtocol, len(m.Software), maxSoftware)
	}
	return nil
}

// Validate checks that Code is a defined code and Msg at most MaxString
// bytes.
func (m *Result) Validate() error {
	switch {
	case m.Code > maxCode:
		return fmt.Errorf("%w: unknown Result.Code %d", ErrProtocol, m.Code)
	case len(m.Msg) > MaxString:
		return fmt.Errorf("%w: Result.Msg of %d bytes exceeds %d", ErrProtocol, len(m.Msg), MaxString)
	}
	return nil
}

// Validate accepts every Cancel.
func (m *Cancel) Validate() error { return nil }

// Validate checks Path as a host path: non-empty, no NUL, at most MaxPath
// bytes.
func (m *StatReq) Validate() error {
	return validHostPath(m.Path)
}

// Validate checks Abs as a host path and, when Exists, Type; when not
// Exists, Type must be zero.
func (m *StatResp) Validate() error {
	if err := validHostPath(m.Abs); err != nil {
		return err
	}
	switch {
	case m.Exists && !validType(m.Type):
		return fmt.Errorf("%w: StatResp of %q: unknown type %d", ErrProtocol, m.Abs, m.Type)
	case !m.Exists && m.Type != 0:
		return fmt.Errorf("%w: StatResp of missing %q has type %d", ErrProtocol, m.Abs, m.Type)
	}
	return nil
}

// Validate checks Pattern as a host path.
func (m *GlobReq) Validate() error {
	return validHostPath(m.Pattern)
}

// Validate checks that there are at most MaxBatch paths, each a valid host
// path.
func (m *GlobResp) Validate() error {
	if len(m.Paths) > MaxBatch {
		return fmt.Errorf("%w: GlobResp of %d paths exceeds %d", ErrProtocol, len(m.Paths), MaxBatch)
	}
	for _, p := range m.Paths {
		if err := validHostPath(p); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks Path as a host path.
func (m *OpenReq) Validate() error {
	return validHostPath(m.Path)
}

// Validate checks Abs as a host path and that Caps holds only known
// capabilities.
func (m *OpenResp) Validate() error {
	if m.Caps&^capAll != 0 {
		return fmt.Errorf("%w: OpenResp: unknown capabilities %#x", ErrProtocol, uint32(m.Caps))
	}
	return validHostPath(m.Abs)
}

// Validate accepts every CloseReq.
func (m *CloseReq) Validate() error { return nil }

// Validate checks that Path satisfies ValidPath, that there are at most
// MaxRules rules of at most MaxString bytes each, that Credit is at most
// MaxCredit and that Want asks only for known metadata.
func (m *ScanReq) Validate() error {
	if err := ValidPath(m.Path); err != nil {
		return err
	}
	if m.Want&^wantAll != 0 {
		return fmt.Errorf("%w: ScanReq: unknown metadata %#x wanted", ErrProtocol, uint32(m.Want))
	}
	if len(m.Rules) > MaxRules {
		return fmt.Errorf("%w: ScanReq of %d rules exceeds %d", ErrProtocol, len(m.Rules), MaxRules)
	}
	for _, r := range m.Rules {
		if len(r) > MaxString {
			return fmt.Errorf("%w: ScanReq rule of %d bytes exceeds %d", ErrProtocol, len(r), MaxString)
		}
	}
	if m.Credit > MaxCredit {
		return fmt.Errorf("%w: ScanReq.Credit %d exceeds %d", ErrProtocol, m.Credit, MaxCredit)
	}
	return nil
}

// Validate checks that Path satisfies ValidPath, Type is one of the file
// types, Mode has no bits above 07777 and Size is not negative; that a
// symlink has a Target (non-empty, no NUL, at most MaxPath bytes) and
// anything else has none; that only regular files have Nlink, Link and
// Sparse, Link being a valid path that sorts before Path; that only
// devices have Rdev and only directories a default ACL; and Attrs (see
// Attrs.Validate).
func (e *Entry) Validate() error {
	if err := ValidPath(e.Path); err != nil {
		return err
	}
	switch {
	case !validType(e.Type):
		return fmt.Errorf("%w: entry %q: unknown type %d", ErrProtocol, e.Path, e.Type)
	case e.Mode > maxMode:
		return fmt.Errorf("%w: entry %q: mode %#o exceeds %#o", ErrProtocol, e.Path, e.Mode, maxMode)
	case e.Size < 0:
		return fmt.Errorf("%w: entry %q: negative size %d", ErrProtocol, e.Path, e.Size)
	case e.Type != TypeSymlink && e.Target != "":
		return fmt.Errorf("%w: entry %q: %v has a symlink target", ErrProtocol, e.Path, e.Type)
	}
	if e.Type == TypeSymlink {
		if err := validTarget(e.Target); err != nil {
			return fmt.Errorf("entry %q: %w", e.Path, err)
		}
	}
	return e.validateMeta()
}

// Validate checks that there are at most MaxBatch entries, each valid (see
// Entry.Validate).
func (m *ScanBatch) Validate() error {
	if len(m.Entries) > MaxBatch {
		return fmt.Errorf("%w: ScanBatch of %d entries exceeds %d", ErrProtocol, len(m.Entries), MaxBatch)
	}
	for i := range m.Entries {
		if err := m.Entries[i].Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks that N is at most MaxCredit.
func (m *ScanMore) Validate() error {
	if m.N > MaxCredit {
		return fmt.Errorf("%w: ScanMore.N %d exceeds %d", ErrProtocol, m.N, MaxCredit)
	}
	return nil
}

// Validate checks that Path satisfies ValidPath, Off is not negative, Len
// is in 1..MaxChunk and Off+Len does not overflow.
func (m *ReadReq) Validate() error {
	if err := ValidPath(m.Path); err != nil {
		return err
	}
	switch {
	case m.Off < 0:
		return fmt.Errorf("%w: ReadReq of %q: negative offset %d", ErrProtocol, m.Path, m.Off)
	case m.Len == 0 || m.Len > MaxChunk:
		return fmt.Errorf("%w: ReadReq of %q: length %d not in 1..%d", ErrProtocol, m.Path, m.Len, MaxChunk)
	case m.Off > math.MaxInt64-int64(m.Len):
		return fmt.Errorf("%w: ReadReq of %q: offset %d + length %d overflows", ErrProtocol, m.Path, m.Off, m.Len)
	}
	return nil
}

// validPayload checks the data of a ReadResp or Data message (named by
// what): at most MaxChunk bytes; when compressed, a non-empty frame
// standing for 1 to MaxChunk bytes; when not, RawLen 0.
func validPayload(what string, data []byte, compressed bool, rawLen uint32) error {
	switch {
	case len(data) > MaxChunk:
		return fmt.Errorf("%w: %s of %d bytes exceeds %d", ErrProtocol, what, len(data), MaxChunk)
	case !compressed && rawLen != 0:
		return fmt.Errorf("%w: %s: RawLen %d without compression", ErrProtocol, what, rawLen)
	case compressed && len(data) == 0:
		return fmt.Errorf("%w: %s: empty compressed payload", ErrProtocol, what)
	case compressed && (rawLen == 0 || rawLen > MaxChunk):
		return fmt.Errorf("%w: %s: RawLen %d not in 1..%d", ErrProtocol, what, rawLen, MaxChunk)
	}
	return nil
}

// Validate checks that Data is at most MaxChunk bytes, that a Compressed
// payload is not empty and has RawLen in 1..MaxChunk (an uncompressed one
// RawLen 0), and that Size is not negative. Whether the request allowed
// compression, and RawLen against its Len, is for the receiver to check.
func (m *ReadResp) Validate() error {
	if err := validPayload("ReadResp", m.Data, m.Compressed, m.RawLen); err != nil {
		return err
	}
	if m.Size < 0 {
		return fmt.Errorf("%w: ReadResp: negative size %d", ErrProtocol, m.Size)
	}
	return nil
}

// Validate checks that Kind is a defined operation, Path satisfies
// ValidPath and Mode has no bits above 07777; that an OpSymlink has a
// Target (non-empty, no NUL, at most MaxPath bytes), an OpRename or OpLink
// a Target that satisfies ValidPath and is neither "." nor Path, and other
// kinds none; that an OpMknod has a FIFO or device Type, and a Rdev only
// for a device, other kinds neither; and that only OpSetMeta, OpSymlink
// and OpMknod have Attrs, which are valid (see Attrs.Validate), with a
// default ACL only for OpSetMeta.
func (o *Op) Validate() error {
	if o.Kind < OpMkdir || o.Kind > OpMknod {
		return fmt.Errorf("%w: op on %q: unknown kind %d", ErrProtocol, o.Path, o.Kind)
	}
	if err := ValidPath(o.Path); err != nil {
		return err
	}
	switch {
	case o.Mode > maxMode:
		return fmt.Errorf("%w: op on %q: mode %#o exceeds %#o", ErrProtocol, o.Path, o.Mode, maxMode)
	case o.Kind != OpSymlink && o.Kind != OpRename && o.Kind != OpLink && o.Target != "":
		return fmt.Errorf("%w: op on %q: kind %d has a symlink target", ErrProtocol, o.Path, o.Kind)
	case o.Kind == OpMknod && !validSpecial(o.Type):
		return fmt.Errorf("%w: mknod %q: type %d", ErrProtocol, o.Path, o.Type)
	case o.Kind != OpMknod && o.Type != 0:
		return fmt.Errorf("%w: op on %q: kind %d has a type", ErrProtocol, o.Path, o.Kind)
	case o.Rdev != 0 && (o.Kind != OpMknod || o.Type == TypeFIFO):
		return fmt.Errorf("%w: op on %q: device number without a device", ErrProtocol, o.Path)
	case o.Kind != OpSetMeta && o.Kind != OpSymlink && o.Kind != OpMknod && !o.Attrs.IsZero():
		return fmt.Errorf("%w: op on %q: kind %d has attributes", ErrProtocol, o.Path, o.Kind)
	case o.Kind != OpSetMeta && len(o.Attrs.DefaultACL) > 0:
		return fmt.Errorf("%w: op on %q: kind %d has a default ACL", ErrProtocol, o.Path, o.Kind)
	}
	if err := o.Attrs.Validate(); err != nil {
		return fmt.Errorf("op on %q: %w", o.Path, err)
	}
	if o.Kind == OpRename || o.Kind == OpLink {
		if err := ValidPath(o.Target); err != nil {
			return fmt.Errorf("op on %q: from: %w", o.Path, err)
		}
		if o.Target == "." || o.Path == "." || o.Target == o.Path {
			return fmt.Errorf("%w: %s %q to %q", ErrProtocol, opVerb[o.Kind], o.Target, o.Path)
		}
	}
	if o.Kind == OpSymlink {
		if err := validTarget(o.Target); err != nil {
			return fmt.Errorf("op on %q: %w", o.Path, err)
		}
	}
	return nil
}

// Validate checks that there are at most MaxBatch ops, each valid (see
// Op.Validate).
func (m *ApplyReq) Validate() error {
	if len(m.Ops) > MaxBatch {
		return fmt.Errorf("%w: ApplyReq of %d ops exceeds %d", ErrProtocol, len(m.Ops), MaxBatch)
	}
	for i := range m.Ops {
		if err := m.Ops[i].Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks that there are at most MaxBatch results, each valid (see
// Result.Validate).
func (m *ApplyResp) Validate() error {
	if len(m.Results) > MaxBatch {
		return fmt.Errorf("%w: ApplyResp of %d results exceeds %d", ErrProtocol, len(m.Results), MaxBatch)
	}
	for i := range m.Results {
		if err := m.Results[i].Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks that Path satisfies ValidPath, Size is not negative,
// Share is empty or 1 to MaxShare lowercase hex digits, and Part comes
// with a Share.
func (m *CreateReq) Validate() error {
	if err := ValidPath(m.Path); err != nil {
		return err
	}
	if m.Size < 0 {
		return fmt.Errorf("%w: CreateReq of %q: negative size %d", ErrProtocol, m.Path, m.Size)
	}
	if err := ValidShare(m.Share); err != nil {
		return err
	}
	if m.Part && m.Share == "" {
		return fmt.Errorf("%w: CreateReq of %q: a part without a share", ErrProtocol, m.Path)
	}
	if m.Basis > BasisPartial {
		return fmt.Errorf("%w: CreateReq of %q: basis %d", ErrProtocol, m.Path, m.Basis)
	}
	return nil
}

// ValidShare checks a shared-file token: empty, or 1 to MaxShare lowercase
// hex digits, so it can be part of a file name.
func ValidShare(s string) error {
	if len(s) > MaxShare {
		return fmt.Errorf("%w: share token of %d bytes", ErrProtocol, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w: share token %q is not lowercase hex", ErrProtocol, s)
		}
	}
	return nil
}

// Validate checks that Off is not negative, Data is at most MaxChunk
// bytes, a Compressed payload is not empty and has RawLen in 1..MaxChunk
// (an uncompressed one RawLen 0), and Off plus the length of the file data
// (RawLen when Compressed, else len(Data)) does not overflow.
func (m *Data) Validate() error {
	if m.Off < 0 {
		return fmt.Errorf("%w: Data: negative offset %d", ErrProtocol, m.Off)
	}
	if err := validPayload("Data", m.Data, m.Compressed, m.RawLen); err != nil {
		return err
	}
	n := int64(len(m.Data))
	if m.Compressed {
		n = int64(m.RawLen)
	}
	if m.Off > math.MaxInt64-n {
		return fmt.Errorf("%w: Data: offset %d + length %d overflows", ErrProtocol, m.Off, n)
	}
	return nil
}

// Validate checks that Size is not negative, Mode has no bits above 07777
// and Attrs are valid (see Attrs.Validate) without a default ACL.
func (m *CommitReq) Validate() error {
	switch {
	case m.Size < 0:
		return fmt.Errorf("%w: CommitReq: negative size %d", ErrProtocol, m.Size)
	case m.Mode > maxMode:
		return fmt.Errorf("%w: CommitReq: mode %#o exceeds %#o", ErrProtocol, m.Mode, maxMode)
	case len(m.Attrs.DefaultACL) > 0:
		return fmt.Errorf("%w: CommitReq: a file with a default ACL", ErrProtocol)
	}
	if err := m.Attrs.Validate(); err != nil {
		return fmt.Errorf("CommitReq: %w", err)
	}
	return nil
}

// opVerb names rename and link in errors.
var opVerb = map[OpKind]string{OpRename: "rename", OpLink: "link"}

// Validate accepts every AbortReq.
func (m *AbortReq) Validate() error { return nil }
