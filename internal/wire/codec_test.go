package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// sample is a named valid message.
type sample struct {
	name string
	msg  Message
}

func fullSum() Sum {
	var s Sum
	for i := range s {
		s[i] = byte(0xff - i)
	}
	return s
}

// longPath returns a valid relative path of exactly MaxPath bytes.
func longPath() string {
	p := strings.Repeat(strings.Repeat("x", MaxName)+"/", 15) + strings.Repeat("y", MaxName-1) + "/z"
	if len(p) != MaxPath {
		panic(len(p))
	}
	return p
}

// zstdSample is a zstd frame of 1000 'a' bytes, as the encoder of package
// remote makes it; the wire carries it without looking inside.
var zstdSample = []byte{0x28, 0xb5, 0x2f, 0xfd, 0x40, 0x00, 0xe8, 0x02, 0x43, 0x1f, 0x00, 0x61}

// smallSamples covers every message kind with values that are short but
// awkward: spaces, newlines, invalid UTF-8, unicode, extremes of numbers.
func smallSamples() []sample {
	return []sample{
		{"Hello", &Hello{MinVersion: 1, MaxVersion: 3, Caps: math.MaxUint64, Software: "fcp 0.1.0 linux/amd64"}},
		{"Hello/empty software", &Hello{MinVersion: 1, MaxVersion: 1}},
		{"Result/ok", &Result{}},
		{"Result/error", &Result{Code: CodeNotExist, Msg: "open a\nb: no such file"}},
		{"Result/max code", &Result{Code: maxCode, Msg: "read-only"}},
		{"Cancel", &Cancel{}},
		{"StatReq/home", &StatReq{Path: "~/My Documents"}},
		{"StatReq/invalid utf8", &StatReq{Path: "/srv/\xff\xfe/x"}},
		{"StatResp/dir", &StatResp{Abs: "/home/ünïcødé", Exists: true, Type: TypeDir}},
		{"StatResp/missing", &StatResp{Abs: "/nope"}},
		{"GlobReq", &GlobReq{Pattern: "/var/log/*.log"}},
		{"GlobResp/none", &GlobResp{}},
		{"GlobResp", &GlobResp{Paths: []string{"/a b", "/c\nd", "/日本"}}},
		{"OpenReq", &OpenReq{Path: "dest dir", Create: true}},
		{"OpenResp", &OpenResp{Root: math.MaxUint32, Abs: "/home/u/dest dir"}},
		{"CloseReq", &CloseReq{Root: 7}},
		{"ScanReq/root", &ScanReq{Root: 1, Path: ".", Credit: 4}},
		{"ScanReq/rules", &ScanReq{Root: 2, Path: "src/a b", Hash: true, Rules: []string{"- *.o", "+ /keep/**", ""}, Credit: MaxCredit}},
		{"ScanBatch/empty", &ScanBatch{}},
		{"ScanBatch", &ScanBatch{Entries: []Entry{
			{Path: ".", Type: TypeDir, Mode: 0o755, Mtime: -1},
			{Path: "a b/new\nline", Type: TypeFile, Mode: 0o7777, Size: math.MaxInt64, Mtime: math.MinInt64, HasSum: true, Sum: fullSum()},
			{Path: "\xff\xfe", Type: TypeFile, Mode: 0o644},
			{Path: "ünï/cødé", Type: TypeSymlink, Mode: 0o777, Target: "../../etc/passwd"},
			{Path: "abs", Type: TypeSymlink, Target: "/\n\xff"},
		}}},
		{"ScanMore", &ScanMore{N: MaxCredit}},
		{"ReadReq", &ReadReq{Root: 3, Path: "big file.iso", Off: 1 << 40, Len: MaxChunk}},
		{"ReadReq/max offset", &ReadReq{Root: 3, Path: "f", Off: math.MaxInt64 - 1, Len: 1}},
		{"ReadReq/compress", &ReadReq{Root: 3, Path: "f", Len: 1 << 20, Compress: true}},
		{"ReadResp/empty", &ReadResp{Size: 0, Mtime: 1}},
		{"ReadResp", &ReadResp{Data: []byte("hello\x00world"), Sum: fullSum(), Size: 11, Mtime: 1_700_000_000_000_000_000}},
		{"ReadResp/compressed", &ReadResp{Data: zstdSample, Sum: fullSum(), Size: 1 << 30, Mtime: -1, Compressed: true, RawLen: 1000}},
		{"ApplyReq/empty", &ApplyReq{Root: 1}},
		{"ApplyReq", &ApplyReq{Root: 9, Ops: []Op{
			{Kind: OpMkdir, Path: "d", Mode: 0o700},
			{Kind: OpSymlink, Path: "d/l", Target: "tärget with space"},
			{Kind: OpRemove, Path: "d/\nx"},
			{Kind: OpSetMeta, Path: ".", Mode: 0o1777, Mtime: -5},
		}}},
		{"ApplyResp", &ApplyResp{Results: []Result{{}, {Code: CodeExist, Msg: "exists"}}}},
		{"CreateReq", &CreateReq{Root: 1, Path: "a/b c", Size: 1 << 33}},
		{"CreateReq/shared part", &CreateReq{Root: 1, Path: "big", Size: 1 << 30, Share: "0123456789abcdef0123456789abcdef", Part: true}},
		{"Data", &Data{Off: 4 << 20, Data: []byte{0, 1, 2, 0xff}, Sum: fullSum()}},
		{"Data/empty", &Data{}},
		{"Data/compressed", &Data{Off: 1 << 20, Data: zstdSample, Sum: fullSum(), Compressed: true, RawLen: 1000}},
		{"Data/compressed at max offset", &Data{Off: math.MaxInt64 - MaxChunk, Data: []byte{0}, Compressed: true, RawLen: MaxChunk}},
		{"CommitReq", &CommitReq{Size: 12, Mode: 0o644, Mtime: math.MaxInt64}},
		{"AbortReq", &AbortReq{}},
		{"AbortReq/keep", &AbortReq{Keep: true}},
		{"ApplyReq/rename", &ApplyReq{Root: 1, Ops: []Op{{Kind: OpRename, Path: "new/name", Target: "old name"}}}},
		{"CreateReq/basis", &CreateReq{Root: 2, Path: "f", Size: 10, Basis: BasisPartial, Stamp: math.MaxUint64}},
		{"CopyData", &CopyData{Off: 1 << 40, BasisOff: 7, Len: MaxDeltaLen, Sum: fullSum()}},
		{"SumsReq", &SumsReq{Root: 1, Path: "a/b", Basis: BasisAny, BlockSize: 700, Off: 1400, Count: MaxBlocks}},
		{"SumsResp", &SumsResp{Basis: BasisFile, Size: 1 << 30, Stamp: 0x0102030405060708, Blocks: []Block{{Weak: 1, Strong: [16]byte{2}}, {Weak: math.MaxUint32, Strong: [16]byte{15: 0xff}}}}},
		{"SumsResp/empty", &SumsResp{Basis: BasisPartial}},
		{"DeltaReq", &DeltaReq{Root: 3, Path: "f", Off: 4 << 20, Len: MaxDeltaLen, BlockSize: MaxBlock, First: 1 << 20, Blocks: []Block{{Weak: 9}}}},
		{"DeltaResp", &DeltaResp{Size: 100, Mtime: -1, Ops: []DeltaOp{
			{Off: 10, BasisOff: -1, Len: 3, Data: []byte("abc"), Sum: fullSum()},
			{Off: 13, BasisOff: 0, Len: 87, Sum: fullSum()},
		}}},
		{"DeltaResp/empty", &DeltaResp{}},
		{"ScanReq/want everything", &ScanReq{Root: 1, Path: ".", Credit: 1, Want: wantAll}},
		{"OpenResp/caps", &OpenResp{Root: 1, Abs: "/", Caps: capAll}},
		{"ScanBatch/metadata", &ScanBatch{Entries: []Entry{
			{Path: ".", Type: TypeDir, Mode: 0o2775, Attrs: Attrs{HasACL: true,
				ACL:        []ACE{{Tag: ACLUserObj, Perm: 7}, {Tag: ACLGroup, Perm: 5, ID: 100, Name: "users"}, {Tag: ACLMask, Perm: 7}},
				DefaultACL: []ACE{{Tag: ACLUser, Perm: 6, ID: math.MaxUint32}, {Tag: ACLOther}},
			}},
			{Path: "a", Type: TypeFile, Size: 1 << 40, Nlink: 3, Sparse: true, Attrs: Attrs{
				HasUid: true, Uid: 1000, HasGid: true, Gid: math.MaxUint32, User: "ünï", Group: "\xff",
				HasXattrs: true, Xattrs: []Xattr{{Name: "security.capability", Value: []byte{1, 0, 0, 2}}, {Name: "user.empty"}, {Name: "user.x", Value: []byte("\x00y")}},
			}},
			{Path: "b/a", Type: TypeFile, Nlink: 3, Link: "a", Attrs: Attrs{HasUid: true, HasXattrs: true, HasACL: true}},
			{Path: "dev/null", Type: TypeChar, Mode: 0o666, Rdev: 0x103, Attrs: Attrs{HasGid: true, Gid: 0, Group: "root"}},
			{Path: "dev/sda", Type: TypeBlock, Mode: 0o660, Rdev: math.MaxUint64},
			{Path: "fifo", Type: TypeFIFO, Mode: 0o600},
			{Path: "link", Type: TypeSymlink, Target: "a", Attrs: Attrs{HasUid: true, Uid: 7, HasGid: true, Gid: 8}},
		}}},
		{"ApplyReq/metadata", &ApplyReq{Root: 1, Ops: []Op{
			{Kind: OpLink, Path: "b/a", Target: "a"},
			{Kind: OpMknod, Path: "fifo", Type: TypeFIFO, Mode: 0o644, Mtime: 5, Attrs: Attrs{HasUid: true, Uid: 1}},
			{Kind: OpMknod, Path: "dev/sda", Type: TypeBlock, Rdev: 0x800, Mode: 0o660},
			{Kind: OpSetMeta, Path: "d", Mode: 0o755, Attrs: Attrs{HasACL: true, DefaultACL: []ACE{{Tag: ACLOther, Perm: 1}}}},
			{Kind: OpSymlink, Path: "l", Target: "t", Attrs: Attrs{HasUid: true, Uid: 0, User: "root"}},
		}}},
		{"CommitReq/attrs", &CommitReq{Size: 1, Mode: 0o4755, Attrs: Attrs{HasUid: true, Uid: 1, HasXattrs: true, Xattrs: []Xattr{{Name: "user.a", Value: []byte("b")}}, HasACL: true}}},
		{"Hole", &Hole{Off: 1 << 40, Len: math.MaxInt64 - 1<<40}},
		{"ExtentsReq", &ExtentsReq{Root: 1, Path: "disk.img", Off: 1 << 30}},
		{"ExtentsResp", &ExtentsResp{Size: 10 << 30, Mtime: -1, Next: 10 << 30, Extents: []Extent{{Off: 0, Len: 4096}, {Off: 1 << 30, Len: 1 << 20}, {Off: 10<<30 - 1, Len: 1}}}},
		{"ExtentsResp/empty", &ExtentsResp{Size: 5, Next: 3}},
	}
}

// maxSamples holds messages at their limits.
func maxSamples() []sample {
	entries := make([]Entry, MaxBatch)
	ops := make([]Op, MaxBatch)
	results := make([]Result, MaxBatch)
	paths := make([]string, MaxBatch)
	rules := make([]string, MaxRules)
	for i := range entries {
		entries[i] = Entry{Path: "f", Type: TypeFile, HasSum: i%2 == 0}
		ops[i] = Op{Kind: OpRemove, Path: "f"}
		results[i] = Result{Code: CodeOther, Msg: "x"}
		paths[i] = "/p"
		rules[i] = "- x"
	}
	p := longPath()
	abs := "/" + strings.Repeat("\xff", MaxPath-1)
	extents := make([]Extent, MaxExtents)
	for i := range extents {
		extents[i] = Extent{Off: 2 * int64(i), Len: 1}
	}
	return []sample{
		{"Hello/max software", &Hello{MinVersion: math.MaxUint16, MaxVersion: math.MaxUint16, Software: strings.Repeat("s", maxSoftware)}},
		{"Result/max msg", &Result{Code: CodeOther, Msg: strings.Repeat("m", MaxString)}},
		{"StatReq/max path", &StatReq{Path: abs}},
		{"StatResp/max path", &StatResp{Abs: abs, Exists: true, Type: TypeSymlink}},
		{"GlobResp/max batch", &GlobResp{Paths: paths}},
		{"ScanReq/max rules", &ScanReq{Path: p, Rules: rules}},
		{"ScanReq/max rule", &ScanReq{Path: ".", Rules: []string{strings.Repeat("r", MaxString)}}},
		{"ScanBatch/max batch", &ScanBatch{Entries: entries}},
		{"ScanBatch/max path and target", &ScanBatch{Entries: []Entry{{Path: p, Type: TypeSymlink, Target: abs}}}},
		{"ApplyReq/max batch", &ApplyReq{Ops: ops}},
		{"ApplyResp/max batch", &ApplyResp{Results: results}},
		{"ReadResp/max chunk", &ReadResp{Data: bytes.Repeat([]byte{0xa5}, MaxChunk)}},
		{"Data/max chunk", &Data{Off: math.MaxInt64 - MaxChunk, Data: bytes.Repeat([]byte{0x5a}, MaxChunk)}},
		{"ReadResp/max compressed", &ReadResp{Data: bytes.Repeat([]byte{0xa5}, MaxChunk), Compressed: true, RawLen: MaxChunk}},
		{"Data/max compressed", &Data{Data: bytes.Repeat([]byte{0x5a}, MaxChunk), Compressed: true, RawLen: MaxChunk}},
		{"CreateReq/max path", &CreateReq{Path: p}},
		{"ScanBatch/max attrs", &ScanBatch{Entries: []Entry{{Path: p, Type: TypeDir, Attrs: maxAttrs()}}}},
		{"CommitReq/max xattrs", &CommitReq{Attrs: Attrs{HasXattrs: true, Xattrs: maxAttrs().Xattrs}}},
		{"ExtentsResp/max extents", &ExtentsResp{Size: 2 * MaxExtents, Next: 2 * MaxExtents, Extents: extents}},
	}
}

// maxAttrs returns Attrs at their limits: MaxXattrBytes of attributes,
// one of them MaxXattrValue bytes, and MaxACL entries in both ACLs.
func maxAttrs() Attrs {
	a := Attrs{HasUid: true, Uid: math.MaxUint32, HasGid: true, Gid: math.MaxUint32,
		User: strings.Repeat("u", MaxOwnerName), Group: strings.Repeat("g", MaxOwnerName), HasXattrs: true, HasACL: true}
	left := MaxXattrBytes
	for i := 0; left > 0 && i < MaxXattrs; i++ {
		name := fmt.Sprintf("user.%04d%s", i, strings.Repeat("n", MaxXattrName-9))
		n := min(MaxXattrValue, left-len(name))
		if n < 0 {
			break
		}
		a.Xattrs = append(a.Xattrs, Xattr{Name: name, Value: bytes.Repeat([]byte{byte(i)}, n)})
		left -= len(name) + n
	}
	for i := range MaxACL {
		a.ACL = append(a.ACL, ACE{Tag: ACLUser, Perm: 7, ID: uint32(i), Name: strings.Repeat("n", MaxOwnerName)})
	}
	a.DefaultACL = a.ACL
	return a
}

// normalize returns a copy of m's struct value with every empty slice set
// to nil, so messages that differ only in nil versus empty compare equal.
func normalize(m Message) any {
	v := reflect.New(reflect.TypeOf(m).Elem()).Elem()
	v.Set(reflect.ValueOf(m).Elem())
	normalizeValue(v)
	return v.Interface()
}

func normalizeValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Slice:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		if v.Type().Elem().Kind() == reflect.Struct {
			s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			reflect.Copy(s, v)
			for i := range s.Len() {
				normalizeValue(s.Index(i))
			}
			v.Set(s)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			normalizeValue(v.Field(i))
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, s := range append(smallSamples(), maxSamples()...) {
		t.Run(s.name, func(t *testing.T) {
			if err := s.msg.(body).Validate(); err != nil {
				t.Fatalf("sample does not validate: %v", err)
			}
			enc := Encode(s.msg)
			got, err := Decode(s.msg.Kind(), enc)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(s.msg)) {
				t.Errorf("round trip changed the message:\n got %+v\nwant %+v", got, s.msg)
			}
			if again := Encode(got); !bytes.Equal(again, enc) {
				t.Errorf("re-encoding differs:\n got %x\nwant %x", again, enc)
			}
			prefix := []byte("prefix")
			if app := AppendBody(prefix, s.msg); !bytes.Equal(app, append(prefix, enc...)) {
				t.Errorf("AppendBody differs from Encode")
			}
		})
	}
}

func TestEveryKindHasAType(t *testing.T) {
	for k := range 256 {
		m := newBody(Kind(k))
		name := Kind(k).String()
		if m == nil {
			if !strings.HasPrefix(name, "Kind(") {
				t.Errorf("Kind(%d) has name %q but no message type", k, name)
			}
			continue
		}
		if m.Kind() != Kind(k) {
			t.Errorf("newBody(%v) returned a %v", Kind(k), m.Kind())
		}
		if got := reflect.TypeOf(m).Elem().Name(); got != name {
			t.Errorf("Kind(%d).String() = %q, type is %s", k, name, got)
		}
	}
}

func TestDataAliasesBody(t *testing.T) {
	enc := Encode(&Data{Data: []byte("abc")})
	m, err := Decode(KindData, enc)
	if err != nil {
		t.Fatal(err)
	}
	d := m.(*Data)
	if cap(d.Data) != len(d.Data) {
		t.Errorf("Data has spare capacity %d; appending would overwrite the body", cap(d.Data)-len(d.Data))
	}
	enc[len(enc)-1] = 'X'
	if string(d.Data) != "abX" {
		t.Errorf("Data = %q, want it to alias the body", d.Data)
	}
}

// enc encodes m without validating it.
func enc(m Message) func() []byte {
	return func() []byte { return Encode(m) }
}

// raw builds a body from pieces: []byte as is, int as a uvarint, string as
// a length-prefixed string.
func raw(parts ...any) func() []byte {
	return func() []byte {
		var b []byte
		for _, p := range parts {
			switch p := p.(type) {
			case []byte:
				b = append(b, p...)
			case int:
				b = binary.AppendUvarint(b, uint64(p))
			case uint64:
				b = binary.AppendUvarint(b, p)
			case string:
				b = appendString(b, p)
			default:
				panic(p)
			}
		}
		return b
	}
}

func TestDecodeErrors(t *testing.T) {
	var zeros Sum
	tests := []struct {
		name string
		kind Kind
		body func() []byte
		want string // in the error text
	}{
		{"unknown kind", 99, raw(), "unknown message kind 99"},
		{"kind zero", 0, raw(), "unknown message kind 0"},
		{"empty body", KindStatReq, raw(), "bad varint"},
		{"trailing bytes", KindStatReq, raw("/a", []byte{0}), "1 bytes after the message"},
		{"trailing bytes after empty message", KindCancel, raw([]byte{0}), "bytes after the message"},
		{"truncated varint", KindCloseReq, raw([]byte{0x80}), "bad varint"},
		{"overlong varint", KindCloseReq, raw(bytes.Repeat([]byte{0xff}, 11)), "bad varint"},
		{"uint32 overflow", KindCloseReq, raw(uint64(math.MaxUint32 + 1)), "overflows uint32"},
		{"uint16 overflow", KindHello, raw(1<<16, 1, 0, ""), "overflows uint16"},
		{"bool not 0 or 1", KindOpenReq, raw("/a", []byte{2}), "not a bool"},
		{"string past end", KindStatReq, raw(10, []byte("abc")), "overruns the body"},
		{"path over MaxPath", KindStatReq, raw(MaxPath+1, []byte("a")), "exceeds 4096"},
		{"huge string length", KindResult, raw([]byte{1}, uint64(math.MaxUint64)), "exceeds"},
		{"software over 256", KindHello, raw(1, 1, 0, strings.Repeat("s", 257)), "exceeds 256"},
		{"count over MaxBatch", KindGlobResp, raw(MaxBatch + 1), "exceed 4096"},
		{"count past end", KindScanBatch, raw(1000, []byte{1, 2, 3}), "overrun the body"},
		{"rules over MaxRules", KindScanReq, raw(0, ".", []byte{0}, MaxRules+1), "exceed 4096"},
		{"sum cut short", KindData, raw([]byte{0}, make([]byte, 31)), "inside Sum"},
		{"data over MaxChunk", KindData, raw([]byte{0}, zeros[:], []byte{0}, 0, MaxChunk+1), "exceeds 4194304"},
		{"compressed data over MaxChunk", KindData, raw([]byte{0}, zeros[:], []byte{1}, 1, MaxChunk+1), "exceeds 4194304"},
		{"data past end", KindReadResp, raw(zeros[:], []byte{0, 0}, []byte{0}, 0, 5, []byte("abc")), "overruns the body"},
		{"Compressed not a bool", KindReadResp, raw(zeros[:], []byte{0, 0}, []byte{2}, 0, 0), "Compressed is 2, not a bool"},
		{"RawLen overflows uint32", KindData, raw([]byte{0}, zeros[:], []byte{1}, uint64(math.MaxUint32+1), 1, []byte("x")), "overflows uint32"},
		{"entry cut short", KindScanBatch, raw(1, "abcdefg", []byte{2}), "bad varint for Entry.Mode"},

		{"Hello min version 0", KindHello, enc(&Hello{MaxVersion: 1}), "MinVersion is 0"},
		{"Hello empty range", KindHello, enc(&Hello{MinVersion: 3, MaxVersion: 2}), "range 3..2 is empty"},
		{"Result unknown code", KindResult, enc(&Result{Code: maxCode + 1}), "unknown Result.Code 14"},
		{"StatReq empty path", KindStatReq, enc(&StatReq{}), "empty path"},
		{"StatReq NUL", KindStatReq, enc(&StatReq{Path: "/a\x00b"}), "NUL in path"},
		{"StatResp bad type", KindStatResp, enc(&StatResp{Abs: "/a", Exists: true, Type: 7}), "unknown type 7"},
		{"StatResp type of missing", KindStatResp, enc(&StatResp{Abs: "/a", Type: TypeFile}), "missing"},
		{"StatResp empty abs", KindStatResp, enc(&StatResp{}), "empty path"},
		{"GlobReq empty", KindGlobReq, enc(&GlobReq{}), "empty path"},
		{"GlobResp NUL", KindGlobResp, enc(&GlobResp{Paths: []string{"/a", "/\x00"}}), "NUL in path"},
		{"OpenReq NUL", KindOpenReq, enc(&OpenReq{Path: "\x00"}), "NUL in path"},
		{"OpenResp empty abs", KindOpenResp, enc(&OpenResp{Root: 1}), "empty path"},
		{"ScanReq absolute", KindScanReq, enc(&ScanReq{Path: "/etc"}), "absolute path"},
		{"ScanReq dotdot", KindScanReq, enc(&ScanReq{Path: "a/../b"}), `".." component`},
		{"ScanReq credit", KindScanReq, enc(&ScanReq{Path: ".", Credit: MaxCredit + 1}), "Credit 1025 exceeds 1024"},
		{"ScanMore credit", KindScanMore, enc(&ScanMore{N: MaxCredit + 1}), "N 1025 exceeds 1024"},
		{"Entry empty path", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Type: TypeFile}}}), "empty path"},
		{"Entry trailing slash", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "a/", Type: TypeDir}}}), "empty or"},
		{"Entry long component", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: strings.Repeat("n", MaxName+1), Type: TypeFile}}}), "component of 256 bytes"},
		{"Entry type 0", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "a"}}}), "unknown type 0"},
		{"Entry type 7", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "a", Type: 7}}}), "unknown type 7"},
		{"Entry mode", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "a", Type: TypeFile, Mode: 0o10000}}}), "mode 010000 exceeds 07777"},
		{"Entry negative size", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "a", Type: TypeFile, Size: -1}}}), "negative size"},
		{"Entry symlink without target", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "l", Type: TypeSymlink}}}), "empty symlink target"},
		{"Entry symlink target NUL", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "l", Type: TypeSymlink, Target: "a\x00"}}}), "NUL in symlink target"},
		{"Entry target on file", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "f", Type: TypeFile, Target: "x"}}}), "file has a symlink target"},
		{"Entry invalid after valid", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "a", Type: TypeDir}, {Path: "..", Type: TypeDir}}}), `".." component`},
		{"ReadReq negative offset", KindReadReq, enc(&ReadReq{Path: "f", Off: -1, Len: 1}), "negative offset"},
		{"ReadReq zero length", KindReadReq, enc(&ReadReq{Path: "f"}), "length 0 not in 1..4194304"},
		{"ReadReq length over MaxChunk", KindReadReq, enc(&ReadReq{Path: "f", Len: MaxChunk + 1}), "not in 1..4194304"},
		{"ReadReq offset overflow", KindReadReq, enc(&ReadReq{Path: "f", Off: math.MaxInt64, Len: 1}), "overflows"},
		{"ReadReq bad path", KindReadReq, enc(&ReadReq{Path: "./f", Len: 1}), "empty or"},
		{"ReadResp negative size", KindReadResp, enc(&ReadResp{Size: -1}), "negative size"},
		{"ReadResp RawLen without compression", KindReadResp, enc(&ReadResp{Data: []byte("x"), RawLen: 1}), "RawLen 1 without compression"},
		{"ReadResp compressed empty", KindReadResp, enc(&ReadResp{Compressed: true, RawLen: 10}), "empty compressed payload"},
		{"ReadResp compressed RawLen 0", KindReadResp, enc(&ReadResp{Data: []byte("x"), Compressed: true}), "RawLen 0 not in 1..4194304"},
		{"ReadResp compressed RawLen over MaxChunk", KindReadResp, enc(&ReadResp{Data: []byte("x"), Compressed: true, RawLen: MaxChunk + 1}), "RawLen 4194305 not in"},
		{"Op kind 0", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Path: "a"}}}), "unknown kind 0"},
		{"Op kind 8", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: 8, Path: "a"}}}), "unknown kind 8"},
		{"Op bad path", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpRemove, Path: "/"}}}), "absolute path"},
		{"Op mode", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpMkdir, Path: "d", Mode: 0o20000}}}), "mode 020000"},
		{"Op symlink without target", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpSymlink, Path: "l"}}}), "empty symlink target"},
		{"Op symlink target NUL", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpSymlink, Path: "l", Target: "\x00"}}}), "NUL in symlink target"},
		{"Op symlink target over MaxPath", KindApplyReq, raw(0, 1, []byte{byte(OpSymlink)}, "l", 0, 0, MaxPath+1, []byte{0}), "exceeds 4096"},
		{"Op target on mkdir", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpMkdir, Path: "d", Target: "x"}}}), "has a symlink target"},
		{"ApplyResp bad code", KindApplyResp, enc(&ApplyResp{Results: []Result{{Code: 200}}}), "unknown Result.Code 200"},
		{"CreateReq negative size", KindCreateReq, enc(&CreateReq{Path: "f", Size: -2}), "negative size"},
		{"CreateReq root path empty", KindCreateReq, enc(&CreateReq{}), "empty path"},
		{"CreateReq share not hex", KindCreateReq, enc(&CreateReq{Path: "f", Share: "../x"}), "not lowercase hex"},
		{"CreateReq share too long", KindCreateReq, enc(&CreateReq{Path: "f", Share: strings.Repeat("a", MaxShare+1)}), "Share of 33 bytes exceeds 32"},
		{"CreateReq part without share", KindCreateReq, enc(&CreateReq{Path: "f", Part: true}), "a part without a share"},
		{"Data negative offset", KindData, enc(&Data{Off: -1}), "negative offset"},
		{"Data offset overflow", KindData, enc(&Data{Off: math.MaxInt64, Data: []byte("x")}), "overflows"},
		{"Data compressed offset overflow", KindData, enc(&Data{Off: math.MaxInt64 - 5, Data: []byte("x"), Compressed: true, RawLen: 6}), "offset 9223372036854775802 + length 6 overflows"},
		{"Data RawLen without compression", KindData, enc(&Data{Data: []byte("x"), RawLen: 1}), "RawLen 1 without compression"},
		{"Data compressed empty", KindData, enc(&Data{Compressed: true, RawLen: 1}), "empty compressed payload"},
		{"Data compressed RawLen over MaxChunk", KindData, enc(&Data{Data: []byte("x"), Compressed: true, RawLen: MaxChunk + 1}), "not in 1..4194304"},
		{"CommitReq negative size", KindCommitReq, enc(&CommitReq{Size: -1}), "negative size"},
		{"Op rename to itself", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpRename, Path: "a", Target: "a"}}}), "rename"},
		{"Op rename from root", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpRename, Path: "a", Target: "."}}}), "rename"},
		{"Op rename traversal", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpRename, Path: "a", Target: "../x"}}}), ".."},
		{"CreateReq basis", KindCreateReq, enc(&CreateReq{Path: "f", Basis: BasisAny}), "basis 3"},
		{"SumsReq no basis", KindSumsReq, enc(&SumsReq{Path: "f", BlockSize: 700}), "basis 0"},
		{"SumsReq block size", KindSumsReq, enc(&SumsReq{Path: "f", Basis: BasisFile, BlockSize: 1}), "block size 1 not in"},
		{"SumsReq unaligned", KindSumsReq, enc(&SumsReq{Path: "f", Basis: BasisFile, BlockSize: 700, Off: 5}), "not a block boundary"},
		{"SumsReq traversal", KindSumsReq, enc(&SumsReq{Path: "../f", Basis: BasisFile, BlockSize: 700}), ".."},
		{"SumsResp any", KindSumsResp, enc(&SumsResp{Basis: BasisAny}), "basis 3"},
		{"DeltaReq too long", KindDeltaReq, enc(&DeltaReq{Path: "f", Len: MaxDeltaLen + 1, BlockSize: 700}), "exceed"},
		{"DeltaReq overflow", KindDeltaReq, enc(&DeltaReq{Path: "f", Off: math.MaxInt64, Len: 2, BlockSize: 700}), "bad range"},
		{"DeltaResp gap", KindDeltaResp, enc(&DeltaResp{Ops: []DeltaOp{{Off: 0, BasisOff: 0, Len: 1}, {Off: 2, BasisOff: 0, Len: 1}}}), "does not follow"},
		{"DeltaResp literal length", KindDeltaResp, enc(&DeltaResp{Ops: []DeltaOp{{BasisOff: -1, Len: 2, Data: []byte("x")}}}), "1 literal bytes for length 2"},
		{"DeltaResp copy with data", KindDeltaResp, enc(&DeltaResp{Ops: []DeltaOp{{BasisOff: 0, Len: 1, Data: []byte("x")}}}), "bad copy"},
		{"DeltaResp empty op", KindDeltaResp, enc(&DeltaResp{Ops: []DeltaOp{{BasisOff: 0}}}), "length 0 not in"},
		{"CopyData empty", KindCopyData, enc(&CopyData{}), "length 0 not in"},
		{"CopyData negative basis", KindCopyData, enc(&CopyData{BasisOff: -1, Len: 1}), "bad basis offset"},
		{"CommitReq mode", KindCommitReq, enc(&CommitReq{Mode: 0o170000}), "mode 0170000"},

		{"ScanReq unknown want", KindScanReq, enc(&ScanReq{Path: ".", Want: wantAll + 1}), "unknown metadata"},
		{"OpenResp unknown caps", KindOpenResp, enc(&OpenResp{Abs: "/", Caps: capAll + 1}), "unknown capabilities"},
		{"Attrs unknown flags", KindCommitReq, raw(0, 0, 0, []byte{0x40}), "unknown flags"},
		{"Entry unknown flags", KindScanBatch, raw(1, "a", []byte{byte(TypeFile)}, 0, 0, 0, "", []byte{0, 0x10, 0}), "unknown flags"},
		{"Attrs name without uid", KindCommitReq, enc(&CommitReq{Attrs: Attrs{HasGid: true, User: "u"}}), "without a uid"},
		{"Attrs group without gid", KindCommitReq, enc(&CommitReq{Attrs: Attrs{HasUid: true, Group: "g"}}), "without a gid"},
		{"Attrs name with NUL", KindCommitReq, enc(&CommitReq{Attrs: Attrs{HasUid: true, User: "a\x00"}}), "NUL in user name"},
		{"Attrs name too long", KindCommitReq, raw(0, 0, 0, []byte{attrUid | attrNames}, 0, strings.Repeat("u", MaxOwnerName+1), ""), "exceeds 256"},
		{"xattrs out of order", KindCommitReq, enc(&CommitReq{Attrs: Attrs{HasXattrs: true, Xattrs: []Xattr{{Name: "user.b"}, {Name: "user.a"}}}}), "out of order"},
		{"xattrs twice", KindCommitReq, enc(&CommitReq{Attrs: Attrs{HasXattrs: true, Xattrs: []Xattr{{Name: "user.a"}, {Name: "user.a"}}}}), "out of order"},
		{"xattr empty name", KindCommitReq, enc(&CommitReq{Attrs: Attrs{HasXattrs: true, Xattrs: []Xattr{{}}}}), "bad extended attribute name"},
		{"xattr name NUL", KindCommitReq, enc(&CommitReq{Attrs: Attrs{HasXattrs: true, Xattrs: []Xattr{{Name: "user.\x00"}}}}), "bad extended attribute name"},
		{"xattr value too long", KindCommitReq, raw(0, 0, 0, []byte{attrXattrs}, 1, "user.a", MaxXattrValue+1), "exceeds 65536"},
		{"xattrs too many bytes", KindCommitReq, enc(&CommitReq{Attrs: Attrs{HasXattrs: true, Xattrs: tooManyXattrBytes()}}), "bytes of extended attributes exceed"},
		{"xattrs too many", KindCommitReq, raw(0, 0, 0, []byte{attrXattrs}, MaxXattrs+1), "exceed 1024"},
		{"ACL bad tag", KindCommitReq, enc(&CommitReq{Attrs: Attrs{HasACL: true, ACL: []ACE{{Tag: 3}}}}), "tag 0x3"},
		{"ACL bad perm", KindCommitReq, enc(&CommitReq{Attrs: Attrs{HasACL: true, ACL: []ACE{{Tag: ACLOther, Perm: 8}}}}), "permissions 010"},
		{"ACL id on owner", KindCommitReq, enc(&CommitReq{Attrs: Attrs{HasACL: true, ACL: []ACE{{Tag: ACLUserObj, ID: 1}}}}), "has an id or name"},
		{"ACL name on mask", KindCommitReq, enc(&CommitReq{Attrs: Attrs{HasACL: true, ACL: []ACE{{Tag: ACLMask, Name: "x"}}}}), "has an id or name"},
		{"ACL too many", KindCommitReq, raw(0, 0, 0, []byte{attrACL}, MaxACL+1), "exceed 4096"},
		{"CommitReq default ACL", KindCommitReq, enc(&CommitReq{Attrs: Attrs{HasACL: true, DefaultACL: []ACE{{Tag: ACLOther}}}}), "default ACL"},
		{"Entry link on dir", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "d", Type: TypeDir, Link: "a"}}}), "dir with hard links"},
		{"Entry nlink on symlink", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "l", Type: TypeSymlink, Target: "t", Nlink: 2}}}), "symlink with hard links"},
		{"Entry link to later", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "a", Type: TypeFile, Link: "b"}}}), "not an earlier entry"},
		{"Entry link to itself", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "a", Type: TypeFile, Link: "a"}}}), "not an earlier entry"},
		{"Entry link to root", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "a", Type: TypeFile, Link: "."}}}), "not an earlier entry"},
		{"Entry link traversal", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "b", Type: TypeFile, Link: "../a"}}}), `".." component`},
		{"Entry sparse dir", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "d", Type: TypeDir, Sparse: true}}}), "sparse dir"},
		{"Entry rdev on fifo", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "p", Type: TypeFIFO, Rdev: 1}}}), "device number"},
		{"Entry default ACL on file", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "f", Type: TypeFile, Attrs: Attrs{HasACL: true, DefaultACL: []ACE{{Tag: ACLOther}}}}}}), "default ACL"},
		{"Entry bad attrs", KindScanBatch, enc(&ScanBatch{Entries: []Entry{{Path: "f", Type: TypeFile, Attrs: Attrs{HasGid: true, User: "u"}}}}), "without a uid"},
		{"Op mknod of a file", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpMknod, Path: "f", Type: TypeFile}}}), "mknod \"f\": type 1"},
		{"Op type on mkdir", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpMkdir, Path: "d", Type: TypeDir}}}), "has a type"},
		{"Op rdev on fifo", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpMknod, Path: "p", Type: TypeFIFO, Rdev: 1}}}), "device number without a device"},
		{"Op attrs on remove", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpRemove, Path: "f", Attrs: Attrs{HasUid: true}}}}), "has attributes"},
		{"Op attrs on link", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpLink, Path: "b", Target: "a", Attrs: Attrs{HasXattrs: true}}}}), "has attributes"},
		{"Op default ACL on symlink", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpSymlink, Path: "l", Target: "t", Attrs: Attrs{HasACL: true, DefaultACL: []ACE{{Tag: ACLOther}}}}}}), "default ACL"},
		{"Op bad attrs", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpSetMeta, Path: "f", Attrs: Attrs{HasACL: true, ACL: []ACE{{Tag: ACLOther, Perm: 9}}}}}}), "permissions"},
		{"Op link to itself", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpLink, Path: "a", Target: "a"}}}), "link \"a\" to \"a\""},
		{"Op link without target", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpLink, Path: "a"}}}), "empty path"},
		{"Op link traversal", KindApplyReq, enc(&ApplyReq{Ops: []Op{{Kind: OpLink, Path: "a", Target: "../a"}}}), ".."},
		{"ExtentsReq negative offset", KindExtentsReq, enc(&ExtentsReq{Path: "f", Off: -1}), "negative offset"},
		{"ExtentsResp negative size", KindExtentsResp, enc(&ExtentsResp{Size: -1}), "negative size"},
		{"ExtentsResp overlap", KindExtentsResp, enc(&ExtentsResp{Size: 10, Next: 10, Extents: []Extent{{0, 5}, {4, 2}}}), "out of order"},
		{"ExtentsResp adjacent", KindExtentsResp, enc(&ExtentsResp{Size: 10, Next: 10, Extents: []Extent{{0, 5}, {5, 2}}}), "out of order"},
		{"ExtentsResp empty extent", KindExtentsResp, enc(&ExtentsResp{Size: 10, Next: 10, Extents: []Extent{{1, 0}}}), "out of order"},
		{"ExtentsResp past size", KindExtentsResp, enc(&ExtentsResp{Size: 10, Next: 10, Extents: []Extent{{8, 3}}}), "past size"},
		{"ExtentsResp overflow", KindExtentsResp, enc(&ExtentsResp{Size: math.MaxInt64, Next: 0, Extents: []Extent{{math.MaxInt64, math.MaxInt64}}}), "past size"},
		{"ExtentsResp next before end", KindExtentsResp, enc(&ExtentsResp{Size: 10, Next: 3, Extents: []Extent{{0, 5}}}), "next offset 3"},
		{"ExtentsResp next past size", KindExtentsResp, enc(&ExtentsResp{Size: 10, Next: 11}), "next offset 11"},
		{"ExtentsResp too many", KindExtentsResp, raw(0, 0, 0, MaxExtents+1), "exceed 4096"},
		{"Hole empty", KindHole, enc(&Hole{Off: 1}), "bad range"},
		{"Hole negative", KindHole, enc(&Hole{Off: -1, Len: 1}), "bad range"},
		{"Hole overflow", KindHole, enc(&Hole{Off: math.MaxInt64, Len: 1}), "bad range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.kind, tt.body())
			if err == nil {
				t.Fatalf("Decode = %+v, want error", m)
			}
			if !errors.Is(err, ErrProtocol) {
				t.Errorf("error %q does not wrap ErrProtocol", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if m != nil {
				t.Errorf("Decode returned %+v with its error", m)
			}
		})
	}
}

// tooManyXattrBytes returns attributes of one byte more than
// MaxXattrBytes in all.
func tooManyXattrBytes() []Xattr {
	var xs []Xattr
	for i := range MaxXattrBytes/MaxXattrValue + 1 {
		xs = append(xs, Xattr{Name: fmt.Sprintf("user.%02d", i), Value: make([]byte, MaxXattrValue)})
	}
	return xs
}

func TestAppendBodyPanicsOnForeignType(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("AppendBody of a foreign type did not panic")
		}
	}()
	AppendBody(nil, foreign{})
}

type foreign struct{}

func (foreign) Kind() Kind { return KindCancel }

func BenchmarkDecodeScanBatch(b *testing.B) {
	entries := make([]Entry, 256)
	for i := range entries {
		entries[i] = Entry{Path: "some/dir/file name.txt", Type: TypeFile, Mode: 0o644, Size: 12345, Mtime: 1_700_000_000_000_000_000, HasSum: true}
	}
	body := Encode(&ScanBatch{Entries: entries})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(KindScanBatch, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeData(b *testing.B) {
	body := Encode(&Data{Off: 1 << 30, Data: make([]byte, 1<<20)})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(KindData, body); err != nil {
			b.Fatal(err)
		}
	}
}
