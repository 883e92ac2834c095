package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// maxSoftware bounds Hello.Software.
const maxSoftware = 256

// Smallest encodings of repeated elements, used to refuse a count that the
// remaining bytes could not hold before allocating for it.
const (
	minStringLen = 1 // length 0
	minEntryLen  = 9 // Path, Type, Mode, Size, Mtime, Target, HasSum, flags, Attrs
	minOpLen     = 8 // Kind, Path, Mode, Mtime, Target, Type, Rdev, Attrs
	minResultLen = 2 // Code, Msg
)

// body is implemented by every message type of this package.
type body interface {
	Message
	Validate() error
	// appendBody appends the encoding to b, except for a trailing byte
	// payload that it returns separately (nil for most messages).
	appendBody(b []byte) (head, tail []byte)
	decode(d *decoder)
}

// newBody returns a zero message of kind k, or nil for an unknown kind.
func newBody(k Kind) body {
	switch k {
	case KindHello:
		return new(Hello)
	case KindResult:
		return new(Result)
	case KindCancel:
		return new(Cancel)
	case KindStatReq:
		return new(StatReq)
	case KindStatResp:
		return new(StatResp)
	case KindGlobReq:
		return new(GlobReq)
	case KindGlobResp:
		return new(GlobResp)
	case KindOpenReq:
		return new(OpenReq)
	case KindOpenResp:
		return new(OpenResp)
	case KindCloseReq:
		return new(CloseReq)
	case KindScanReq:
		return new(ScanReq)
	case KindScanBatch:
		return new(ScanBatch)
	case KindScanMore:
		return new(ScanMore)
	case KindReadReq:
		return new(ReadReq)
	case KindReadResp:
		return new(ReadResp)
	case KindApplyReq:
		return new(ApplyReq)
	case KindApplyResp:
		return new(ApplyResp)
	case KindCreateReq:
		return new(CreateReq)
	case KindData:
		return new(Data)
	case KindCommitReq:
		return new(CommitReq)
	case KindAbortReq:
		return new(AbortReq)
	case KindCopyData:
		return new(CopyData)
	case KindSumsReq:
		return new(SumsReq)
	case KindSumsResp:
		return new(SumsResp)
	case KindDeltaReq:
		return new(DeltaReq)
	case KindDeltaResp:
		return new(DeltaResp)
	case KindHole:
		return new(Hole)
	case KindExtentsReq:
		return new(ExtentsReq)
	case KindExtentsResp:
		return new(ExtentsResp)
	}
	return nil
}

// String returns the name of the message type of kind k ("ScanBatch"), or
// "Kind(n)" for an unknown kind.
func (k Kind) String() string {
	switch k {
	case KindHello:
		return "Hello"
	case KindResult:
		return "Result"
	case KindCancel:
		return "Cancel"
	case KindStatReq:
		return "StatReq"
	case KindStatResp:
		return "StatResp"
	case KindGlobReq:
		return "GlobReq"
	case KindGlobResp:
		return "GlobResp"
	case KindOpenReq:
		return "OpenReq"
	case KindOpenResp:
		return "OpenResp"
	case KindCloseReq:
		return "CloseReq"
	case KindScanReq:
		return "ScanReq"
	case KindScanBatch:
		return "ScanBatch"
	case KindScanMore:
		return "ScanMore"
	case KindReadReq:
		return "ReadReq"
	case KindReadResp:
		return "ReadResp"
	case KindApplyReq:
		return "ApplyReq"
	case KindApplyResp:
		return "ApplyResp"
	case KindCreateReq:
		return "CreateReq"
	case KindData:
		return "Data"
	case KindCommitReq:
		return "CommitReq"
	case KindAbortReq:
		return "AbortReq"
	case KindCopyData:
		return "CopyData"
	case KindSumsReq:
		return "SumsReq"
	case KindSumsResp:
		return "SumsResp"
	case KindDeltaReq:
		return "DeltaReq"
	case KindDeltaResp:
		return "DeltaResp"
	case KindHole:
		return "Hole"
	case KindExtentsReq:
		return "ExtentsReq"
	case KindExtentsResp:
		return "ExtentsResp"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Encode returns the body encoding of m (without frame header). See
// AppendBody.
func Encode(m Message) []byte {
	return AppendBody(nil, m)
}

// AppendBody appends the body encoding of m (without frame header) to dst
// and returns the extended slice. It does not validate m: a sender that
// wants an invalid message refused locally calls m's Validate method first,
// as Conn.Send does. AppendBody panics if m is not a message type of this
// package.
func AppendBody(dst []byte, m Message) []byte {
	b, ok := m.(body)
	if !ok {
		panic(fmt.Sprintf("wire: AppendBody of %T, not a wire message", m))
	}
	head, tail := b.appendBody(dst)
	return append(head, tail...)
}

// Decode parses body as a message of the given kind and validates it. The
// result is a pointer to a message struct of this package (*Hello for
// KindHello, and so on). The Data field of a *Data or *ReadResp result
// aliases body; every other field is a copy. Errors wrap ErrProtocol: for
// an unknown kind, a malformed or over-limit field, bytes left over after
// the message, or a message that fails its Validate method. Decode never
// panics, whatever the input.
func Decode(kind Kind, body []byte) (Message, error) {
	m := newBody(kind)
	if m == nil {
		return nil, fmt.Errorf("%w: unknown message kind %d", ErrProtocol, uint8(kind))
	}
	d := decoder{b: body}
	m.decode(&d)
	if d.err == nil && len(d.b) > 0 {
		d.failf("%d bytes after the message", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode %v: %w: %v", kind, ErrProtocol, d.err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("decode %v: %w", kind, err)
	}
	return m, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// decoder reads body fields from b. The first error sticks: later reads
// return zero values, so a message's decode method reads straight through
// and the caller checks err once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) failf(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.failf("bad varint for %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.failf("bad varint for %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint16(what string) uint16 {
	v := d.uvarint(what)
	if v > math.MaxUint16 {
		d.failf("%s %d overflows uint16", what, v)
		return 0
	}
	return uint16(v)
}

func (d *decoder) uint32(what string) uint32 {
	v := d.uvarint(what)
	if v > math.MaxUint32 {
		d.failf("%s %d overflows uint32", what, v)
		return 0
	}
	return uint32(v)
}

// uint64 reads 8 bytes, big endian.
func (d *decoder) uint64(what string) uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.failf("body ends inside %s", what)
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.failf("body ends before %s", what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bool(what string) bool {
	switch v := d.byte(what); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.failf("%s is %d, not a bool", what, v)
		return false
	}
}

func (d *decoder) sum(what string) (s Sum) {
	if d.err != nil {
		return s
	}
	if len(d.b) < len(s) {
		d.failf("body ends inside %s", what)
		return s
	}
	copy(s[:], d.b)
	d.b = d.b[len(s):]
	return s
}

// bytes reads a length-prefixed byte string of at most limit bytes. The
// result aliases the body and has no spare capacity; it is nil when empty.
func (d *decoder) bytes(limit int, what string) []byte {
	n := d.uvarint(what)
	switch {
	case d.err != nil:
		return nil
	case n > uint64(limit):
		d.failf("%s of %d bytes exceeds %d", what, n, limit)
		return nil
	case n > uint64(len(d.b)):
		d.failf("%s of %d bytes overruns the body (%d left)", what, n, len(d.b))
		return nil
	case n == 0:
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) string(limit int, what string) string {
	return string(d.bytes(limit, what))
}

// count reads an element count of at most limit, each element taking at
// least minLen bytes, and checks that the rest of the body can hold them.
func (d *decoder) count(limit, minLen int, what string) int {
	n := d.uvarint(what)
	switch {
	case d.err != nil:
		return 0
	case n > uint64(limit):
		d.failf("%d %s exceed %d", n, what, limit)
		return 0
	case n*uint64(minLen) > uint64(len(d.b)):
		d.failf("%d %s overrun the body (%d bytes left)", n, what, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) strings(limit, maxLen int, what string) []string {
	n := d.count(limit, minStringLen, what)
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.string(maxLen, what)
	}
	return ss
}

func (m *Hello) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendUvarint(b, uint64(m.MinVersion))
	b = binary.AppendUvarint(b, uint64(m.MaxVersion))
	b = binary.AppendUvarint(b, m.Caps)
	return appendString(b, m.Software), nil
}

func (m *Hello) decode(d *decoder) {
	m.MinVersion = d.uint16("MinVersion")
	m.MaxVersion = d.uint16("MaxVersion")
	m.Caps = d.uvarint("Caps")
	m.Software = d.string(maxSoftware, "Software")
}

func (m *Result) appendBody(b []byte) (head, tail []byte) {
	b = append(b, byte(m.Code))
	return appendString(b, m.Msg), nil
}

func (m *Result) decode(d *decoder) {
	m.Code = Code(d.byte("Code"))
	m.Msg = d.string(MaxString, "Msg")
}

func (m *Cancel) appendBody(b []byte) (head, tail []byte) { return b, nil }

func (m *Cancel) decode(*decoder) {}

func (m *StatReq) appendBody(b []byte) (head, tail []byte) {
	return appendString(b, m.Path), nil
}

func (m *StatReq) decode(d *decoder) {
	m.Path = d.string(MaxPath, "Path")
}

func (m *StatResp) appendBody(b []byte) (head, tail []byte) {
	b = appendString(b, m.Abs)
	b = appendBool(b, m.Exists)
	return append(b, byte(m.Type)), nil
}

func (m *StatResp) decode(d *decoder) {
	m.Abs = d.string(MaxPath, "Abs")
	m.Exists = d.bool("Exists")
	m.Type = FileType(d.byte("Type"))
}

func (m *GlobReq) appendBody(b []byte) (head, tail []byte) {
	return appendString(b, m.Pattern), nil
}

func (m *GlobReq) decode(d *decoder) {
	m.Pattern = d.string(MaxPath, "Pattern")
}

func (m *GlobResp) appendBody(b []byte) (head, tail []byte) {
	return appendStrings(b, m.Paths), nil
}

func (m *GlobResp) decode(d *decoder) {
	m.Paths = d.strings(MaxBatch, MaxPath, "Paths")
}

func (m *OpenReq) appendBody(b []byte) (head, tail []byte) {
	b = appendString(b, m.Path)
	return appendBool(b, m.Create), nil
}

func (m *OpenReq) decode(d *decoder) {
	m.Path = d.string(MaxPath, "Path")
	m.Create = d.bool("Create")
}

func (m *OpenResp) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendUvarint(b, uint64(m.Root))
	b = appendString(b, m.Abs)
	return binary.AppendUvarint(b, uint64(m.Caps)), nil
}

func (m *OpenResp) decode(d *decoder) {
	m.Root = d.uint32("Root")
	m.Abs = d.string(MaxPath, "Abs")
	m.Caps = Caps(d.uint32("Caps"))
}

func (m *CloseReq) appendBody(b []byte) (head, tail []byte) {
	return binary.AppendUvarint(b, uint64(m.Root)), nil
}

func (m *CloseReq) decode(d *decoder) {
	m.Root = d.uint32("Root")
}

func (m *ScanReq) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendUvarint(b, uint64(m.Root))
	b = appendString(b, m.Path)
	b = appendBool(b, m.Hash)
	b = appendStrings(b, m.Rules)
	b = binary.AppendUvarint(b, uint64(m.Credit))
	b = appendBool(b, m.Tidy)
	return binary.AppendUvarint(b, uint64(m.Want)), nil
}

func (m *ScanReq) decode(d *decoder) {
	m.Root = d.uint32("Root")
	m.Path = d.string(MaxPath, "Path")
	m.Hash = d.bool("Hash")
	m.Rules = d.strings(MaxRules, MaxString, "Rules")
	m.Credit = d.uint32("Credit")
	m.Tidy = d.bool("Tidy")
	m.Want = Want(d.uint32("Want"))
}

func (e *Entry) appendTo(b []byte) []byte {
	b = appendString(b, e.Path)
	b = append(b, byte(e.Type))
	b = binary.AppendUvarint(b, uint64(e.Mode))
	b = binary.AppendVarint(b, e.Size)
	b = binary.AppendVarint(b, e.Mtime)
	b = appendString(b, e.Target)
	b = appendBool(b, e.HasSum)
	if e.HasSum {
		b = append(b, e.Sum[:]...)
	}
	return e.appendMeta(b)
}

func (e *Entry) decode(d *decoder) {
	e.Path = d.string(MaxPath, "Entry.Path")
	e.Type = FileType(d.byte("Entry.Type"))
	e.Mode = d.uint32("Entry.Mode")
	e.Size = d.varint("Entry.Size")
	e.Mtime = d.varint("Entry.Mtime")
	e.Target = d.string(MaxPath, "Entry.Target")
	e.HasSum = d.bool("Entry.HasSum")
	if e.HasSum {
		e.Sum = d.sum("Entry.Sum")
	}
	e.decodeMeta(d)
}

func (m *ScanBatch) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendUvarint(b, uint64(len(m.Entries)))
	for i := range m.Entries {
		b = m.Entries[i].appendTo(b)
	}
	return b, nil
}

func (m *ScanBatch) decode(d *decoder) {
	n := d.count(MaxBatch, minEntryLen, "entries")
	if n == 0 {
		return
	}
	m.Entries = make([]Entry, n)
	for i := range m.Entries {
		m.Entries[i].decode(d)
	}
}

func (m *ScanMore) appendBody(b []byte) (head, tail []byte) {
	return binary.AppendUvarint(b, uint64(m.N)), nil
}

func (m *ScanMore) decode(d *decoder) {
	m.N = d.uint32("N")
}

func (m *ReadReq) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendUvarint(b, uint64(m.Root))
	b = appendString(b, m.Path)
	b = binary.AppendVarint(b, m.Off)
	b = binary.AppendUvarint(b, uint64(m.Len))
	return appendBool(b, m.Compress), nil
}

func (m *ReadReq) decode(d *decoder) {
	m.Root = d.uint32("Root")
	m.Path = d.string(MaxPath, "Path")
	m.Off = d.varint("Off")
	m.Len = d.uint32("Len")
	m.Compress = d.bool("Compress")
}

func (m *ReadResp) appendBody(b []byte) (head, tail []byte) {
	b = append(b, m.Sum[:]...)
	b = binary.AppendVarint(b, m.Size)
	b = binary.AppendVarint(b, m.Mtime)
	b = appendBool(b, m.Compressed)
	b = binary.AppendUvarint(b, uint64(m.RawLen))
	return binary.AppendUvarint(b, uint64(len(m.Data))), m.Data
}

func (m *ReadResp) decode(d *decoder) {
	m.Sum = d.sum("Sum")
	m.Size = d.varint("Size")
	m.Mtime = d.varint("Mtime")
	m.Compressed = d.bool("Compressed")
	m.RawLen = d.uint32("RawLen")
	m.Data = d.bytes(MaxChunk, "Data")
}

func (o *Op) appendTo(b []byte) []byte {
	b = append(b, byte(o.Kind))
	b = appendString(b, o.Path)
	b = binary.AppendUvarint(b, uint64(o.Mode))
	b = binary.AppendVarint(b, o.Mtime)
	b = appendString(b, o.Target)
	b = append(b, byte(o.Type))
	b = binary.AppendUvarint(b, o.Rdev)
	return o.Attrs.appendTo(b)
}

func (o *Op) decode(d *decoder) {
	o.Kind = OpKind(d.byte("Op.Kind"))
	o.Path = d.string(MaxPath, "Op.Path")
	o.Mode = d.uint32("Op.Mode")
	o.Mtime = d.varint("Op.Mtime")
	o.Target = d.string(MaxPath, "Op.Target")
	o.Type = FileType(d.byte("Op.Type"))
	o.Rdev = d.uvarint("Op.Rdev")
	o.Attrs.decode(d, "Op.Attrs")
}

func (m *ApplyReq) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendUvarint(b, uint64(m.Root))
	b = binary.AppendUvarint(b, uint64(len(m.Ops)))
	for i := range m.Ops {
		b = m.Ops[i].appendTo(b)
	}
	return b, nil
}

func (m *ApplyReq) decode(d *decoder) {
	m.Root = d.uint32("Root")
	n := d.count(MaxBatch, minOpLen, "ops")
	if n == 0 {
		return
	}
	m.Ops = make([]Op, n)
	for i := range m.Ops {
		m.Ops[i].decode(d)
	}
}

func (m *ApplyResp) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendUvarint(b, uint64(len(m.Results)))
	for i := range m.Results {
		b, _ = m.Results[i].appendBody(b)
	}
	return b, nil
}

func (m *ApplyResp) decode(d *decoder) {
	n := d.count(MaxBatch, minResultLen, "results")
	if n == 0 {
		return
	}
	m.Results = make([]Result, n)
	for i := range m.Results {
		m.Results[i].decode(d)
	}
}

func (m *CreateReq) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendUvarint(b, uint64(m.Root))
	b = appendString(b, m.Path)
	b = binary.AppendVarint(b, m.Size)
	b = appendString(b, m.Share)
	b = appendBool(b, m.Part)
	b = append(b, byte(m.Basis))
	return binary.BigEndian.AppendUint64(b, m.Stamp), nil
}

func (m *CreateReq) decode(d *decoder) {
	m.Root = d.uint32("Root")
	m.Path = d.string(MaxPath, "Path")
	m.Size = d.varint("Size")
	m.Share = d.string(MaxShare, "Share")
	m.Part = d.bool("Part")
	m.Basis = Basis(d.byte("Basis"))
	m.Stamp = d.uint64("Stamp")
}

func (m *Data) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendVarint(b, m.Off)
	b = append(b, m.Sum[:]...)
	b = appendBool(b, m.Compressed)
	b = binary.AppendUvarint(b, uint64(m.RawLen))
	return binary.AppendUvarint(b, uint64(len(m.Data))), m.Data
}

func (m *Data) decode(d *decoder) {
	m.Off = d.varint("Off")
	m.Sum = d.sum("Sum")
	m.Compressed = d.bool("Compressed")
	m.RawLen = d.uint32("RawLen")
	m.Data = d.bytes(MaxChunk, "Data")
}

func (m *CommitReq) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendVarint(b, m.Size)
	b = binary.AppendUvarint(b, uint64(m.Mode))
	b = binary.AppendVarint(b, m.Mtime)
	return m.Attrs.appendTo(b), nil
}

func (m *CommitReq) decode(d *decoder) {
	m.Size = d.varint("Size")
	m.Mode = d.uint32("Mode")
	m.Mtime = d.varint("Mtime")
	m.Attrs.decode(d, "Attrs")
}

func (m *AbortReq) appendBody(b []byte) (head, tail []byte) { return appendBool(b, m.Keep), nil }

func (m *AbortReq) decode(d *decoder) { m.Keep = d.bool("Keep") }
