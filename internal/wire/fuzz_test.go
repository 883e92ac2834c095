package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// FuzzDecode feeds arbitrary bodies to Decode. A body that decodes must
// re-encode to a body that decodes to the same message, and re-encoding is
// stable from then on.
func FuzzDecode(f *testing.F) {
	for _, s := range smallSamples() {
		f.Add(byte(s.msg.Kind()), Encode(s.msg))
	}
	f.Fuzz(func(t *testing.T, kind byte, b []byte) {
		m, err := Decode(Kind(kind), b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("Decode error %v does not wrap ErrProtocol", err)
			}
			if m != nil {
				t.Fatalf("Decode returned %+v with its error", m)
			}
			return
		}
		if m.Kind() != Kind(kind) {
			t.Fatalf("Decode(%v) returned a %v", Kind(kind), m.Kind())
		}
		if err := m.(body).Validate(); err != nil {
			t.Fatalf("Decode returned a message that fails Validate: %v", err)
		}
		enc := Encode(m)
		if len(enc) > len(b) {
			t.Fatalf("re-encoding grew from %d to %d bytes", len(b), len(enc))
		}
		m2, err := Decode(Kind(kind), enc)
		if err != nil {
			t.Fatalf("re-encoded %v does not decode: %v", Kind(kind), err)
		}
		if !reflect.DeepEqual(normalize(m), normalize(m2)) {
			t.Fatalf("round trip changed the message:\n got %+v\nwant %+v", m2, m)
		}
		if enc2 := Encode(m2); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%x\n%x", enc, enc2)
		}
	})
}

// FuzzConn feeds an arbitrary stream to a Conn: a handshake when the
// stream starts with Magic, then Recv until it fails. It must not panic,
// and every error must be one Recv documents.
func FuzzConn(f *testing.F) {
	var stream bytes.Buffer
	c := NewConn(nil, &stream)
	for i, s := range smallSamples() {
		if err := c.Send(uint32(i), s.msg); err != nil {
			f.Fatal(err)
		}
	}
	frames := stream.Bytes()
	helloFrame := frame(KindHello, 0, Encode(&Hello{MinVersion: 1, MaxVersion: 1}))
	handshake := append(Magic[:], helloFrame...)
	f.Add(frames)
	f.Add(frames[:len(frames)/2])
	f.Add(append(handshake, frames...))
	f.Add(handshake[:5])
	f.Add([]byte("Last login: Mon Jan  1 00:00:00 2024\n"))
	f.Add(header(MaxFrame+6, KindData))
	f.Add(frame(99, 1, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := NewConn(bytes.NewReader(data), io.Discard)
		if bytes.HasPrefix(data, Magic[:]) {
			_, _, err := c.Handshake(Hello{MinVersion: MinVersion, MaxVersion: Version})
			if err != nil {
				return
			}
		}
		for range 1000 {
			_, m, err := c.Recv()
			if err != nil {
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, ErrProtocol) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Recv error of an undocumented kind: %v", err)
				}
				return
			}
			if m == nil {
				t.Fatal("Recv returned a nil message without error")
			}
		}
	})
}
