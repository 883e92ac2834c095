package transfer

import (
	"reflect"
	"testing"

	"github.com/fcp-dev/fcp/internal/wire"
)

func TestSameID(t *testing.T) {
	tests := []struct {
		name  string
		id    uint32
		user  string
		did   uint32
		duser string
		want  bool
	}{
		{name: "same number, no names", id: 5, did: 5, want: true},
		{name: "other number, no names", id: 5, did: 6, want: false},
		{name: "same name, other numbers", id: 5, user: "ann", did: 6, duser: "ann", want: true},
		{name: "other name, same number", id: 5, user: "ann", did: 5, duser: "bob", want: false},
		{name: "name unknown at the destination", id: 5, user: "ann", did: 5, want: true},
		{name: "name unknown at the source", id: 5, did: 5, duser: "bob", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameID(tt.id, tt.user, tt.did, tt.duser); got != tt.want {
				t.Errorf("sameID = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSameXattrs(t *testing.T) {
	x := func(pairs ...string) []wire.Xattr {
		var out []wire.Xattr
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, wire.Xattr{Name: pairs[i], Value: []byte(pairs[i+1])})
		}
		return out
	}
	tests := []struct {
		name string
		s, d []wire.Xattr
		want bool
	}{
		{name: "none", want: true},
		{name: "equal", s: x("user.a", "1", "user.b", "2"), d: x("user.a", "1", "user.b", "2"), want: true},
		{name: "value differs", s: x("user.a", "1"), d: x("user.a", "2"), want: false},
		{name: "missing at the destination", s: x("user.a", "1", "user.b", "2"), d: x("user.b", "2"), want: false},
		{name: "last missing at the destination", s: x("user.a", "1", "user.b", "2"), d: x("user.a", "1"), want: false},
		{name: "extra user attribute", s: x("user.a", "1"), d: x("user.a", "1", "user.z", ""), want: false},
		{name: "extra trusted attribute", d: x("trusted.t", "1"), want: false},
		{name: "extra security label stays", s: x("user.a", "1"), d: x("security.selinux", "ctx", "user.a", "1"), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameXattrs(tt.s, tt.d); got != tt.want {
				t.Errorf("sameXattrs = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSameACL(t *testing.T) {
	base := []wire.ACE{{Tag: wire.ACLUserObj, Perm: 7}, {Tag: wire.ACLGroupObj, Perm: 5}, {Tag: wire.ACLMask, Perm: 7}, {Tag: wire.ACLOther, Perm: 0}}
	with := func(extra ...wire.ACE) []wire.ACE { return append(append([]wire.ACE(nil), base...), extra...) }
	tests := []struct {
		name string
		s, d []wire.ACE
		want bool
	}{
		{name: "none", want: true},
		{name: "equal", s: with(wire.ACE{Tag: wire.ACLUser, Perm: 6, ID: 7}), d: with(wire.ACE{Tag: wire.ACLUser, Perm: 6, ID: 7}), want: true},
		{name: "other permissions", s: with(wire.ACE{Tag: wire.ACLUser, Perm: 6, ID: 7}), d: with(wire.ACE{Tag: wire.ACLUser, Perm: 4, ID: 7}), want: false},
		{name: "named alike, numbered apart", s: with(wire.ACE{Tag: wire.ACLUser, Perm: 6, ID: 7, Name: "ann"}), d: with(wire.ACE{Tag: wire.ACLUser, Perm: 6, ID: 9, Name: "ann"}), want: true},
		{name: "user for group", s: with(wire.ACE{Tag: wire.ACLUser, Perm: 6, ID: 7}), d: with(wire.ACE{Tag: wire.ACLGroup, Perm: 6, ID: 7}), want: false},
		{name: "one side only", s: base, want: false},
		{name: "order does not matter", s: []wire.ACE{base[1], base[0]}, d: []wire.ACE{base[0], base[1]}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameACL(tt.s, tt.d); got != tt.want {
				t.Errorf("sameACL = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCoalesce(t *testing.T) {
	tests := []struct {
		name string
		in   []wire.Extent
		want []wire.Extent
	}{
		{name: "none"},
		{name: "far apart", in: []wire.Extent{{Off: 0, Len: 10}, {Off: 100, Len: 10}}, want: []wire.Extent{{Off: 0, Len: 10}, {Off: 100, Len: 10}}},
		{name: "close", in: []wire.Extent{{Off: 0, Len: 10}, {Off: 15, Len: 10}, {Off: 30, Len: 5}}, want: []wire.Extent{{Off: 0, Len: 35}}},
		{name: "first pair close", in: []wire.Extent{{Off: 0, Len: 10}, {Off: 12, Len: 3}, {Off: 1000, Len: 1}}, want: []wire.Extent{{Off: 0, Len: 15}, {Off: 1000, Len: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := coalesce(tt.in, 10); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("coalesce = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWantAndRestrict(t *testing.T) {
	all := Options{Metadata: Metadata{Owner: true, Group: true, HardLinks: true, Xattrs: true, ACLs: true, Specials: true, Devices: true, Sparse: true}}
	tests := []struct {
		name        string
		o           Options
		caps        wire.Caps
		want        wire.Want
		wantNotices int
	}{
		{name: "default", want: wire.WantSpecials},
		{name: "everything, root", o: all, caps: allCaps,
			want: wire.WantOwner | wire.WantNames | wire.WantXattrs | wire.WantACL | wire.WantLinks | wire.WantSpecials | wire.WantSparse},
		{name: "everything, numeric ids", o: func() Options { o := all; o.NumericIDs = true; return o }(), caps: allCaps,
			want: wire.WantOwner | wire.WantXattrs | wire.WantACL | wire.WantLinks | wire.WantSpecials | wire.WantSparse},
		{name: "everything, not root", o: all, caps: allCaps &^ (wire.CapOwner | wire.CapDevices),
			want: wire.WantNames | wire.WantXattrs | wire.WantACL | wire.WantLinks | wire.WantSpecials | wire.WantSparse},
		{name: "everything, through a shell", o: all, caps: 0, want: wire.WantSpecials | wire.WantSparse, wantNotices: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, notices := tt.o.restrict(tt.caps)
			if got := o.want(); got != tt.want {
				t.Errorf("want %#x, want %#x", got, tt.want)
			}
			if len(notices) != tt.wantNotices {
				t.Errorf("notices %q, want %d", notices, tt.wantNotices)
			}
		})
	}
}
