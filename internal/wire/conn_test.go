package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// frame returns the raw bytes of a frame.
func frame(kind Kind, id uint32, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(5+len(body)))
	b = append(b, byte(kind))
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, body...)
}

// header returns a frame header claiming length n.
func header(n uint32, kind Kind) []byte {
	b := binary.BigEndian.AppendUint32(nil, n)
	return append(b, byte(kind), 0, 0, 0, 1)
}

func TestSendRecv(t *testing.T) {
	samples := append(smallSamples(), maxSamples()...)
	var stream bytes.Buffer
	c := NewConn(&stream, &stream)
	for i, s := range samples {
		if err := c.Send(uint32(i), s.msg); err != nil {
			t.Fatalf("Send %s: %v", s.name, err)
		}
	}
	for i, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			id, m, err := c.Recv()
			if err != nil {
				t.Fatalf("Recv: %v", err)
			}
			if id != uint32(i) {
				t.Errorf("id = %d, want %d", id, i)
			}
			if !reflect.DeepEqual(normalize(m), normalize(s.msg)) {
				t.Errorf("Recv = %+v, want %+v", m, s.msg)
			}
		})
	}
	if _, _, err := c.Recv(); err != io.EOF {
		t.Errorf("Recv at end = %v, want io.EOF", err)
	}
}

func TestRecvErrors(t *testing.T) {
	cancel := frame(KindCancel, 1, nil)
	tests := []struct {
		name   string
		stream []byte
		good   int // frames to receive before the error
		want   error
	}{
		{"clean EOF", nil, 0, io.EOF},
		{"clean EOF after frame", cancel, 1, io.EOF},
		{"cut in length", []byte{0, 0}, 0, io.ErrUnexpectedEOF},
		{"cut in length after frame", append(cancel, 0), 1, io.ErrUnexpectedEOF},
		{"cut in header", header(5, KindCancel)[:6], 0, io.ErrUnexpectedEOF},
		{"cut in body", frame(KindStatReq, 1, []byte{5, 'a', 'b'})[:11], 0, io.ErrUnexpectedEOF},
		{"body missing", header(100, KindStatReq), 0, io.ErrUnexpectedEOF},
		{"length zero", header(0, KindCancel), 0, ErrProtocol},
		{"length below header", header(4, KindCancel), 0, ErrProtocol},
		{"length over MaxFrame", header(MaxFrame+6, KindData), 0, ErrTooLarge},
		{"length max uint32", header(math.MaxUint32, KindData), 0, ErrTooLarge},
		{"length MaxFrame passes framing", append(header(MaxFrame+5, KindData), make([]byte, MaxFrame)...), 0, ErrProtocol},
		{"unknown kind", frame(99, 1, nil), 0, ErrProtocol},
		{"kind zero", frame(0, 1, nil), 0, ErrProtocol},
		{"invalid body", frame(KindStatReq, 1, []byte{0}), 0, ErrProtocol},
		{"trailing byte", frame(KindCancel, 1, []byte{0}), 0, ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewConn(bytes.NewReader(tt.stream), io.Discard)
			for i := range tt.good {
				if _, _, err := c.Recv(); err != nil {
					t.Fatalf("Recv %d: %v", i, err)
				}
			}
			id, m, err := c.Recv()
			if !errors.Is(err, tt.want) {
				t.Fatalf("Recv = %d, %+v, %v; want %v", id, m, err, tt.want)
			}
			if tt.want == io.EOF && err != io.EOF {
				t.Errorf("Recv = %#v, want io.EOF itself", err)
			}
			if _, _, again := c.Recv(); again != err {
				t.Errorf("second Recv = %v, want the same error %v", again, err)
			}
		})
	}
}

func TestSendRefuses(t *testing.T) {
	bigRules := make([]string, MaxFrame/MaxString+1)
	for i := range bigRules {
		bigRules[i] = strings.Repeat("r", MaxString)
	}
	tests := []struct {
		name string
		msg  Message
		want error
	}{
		{"invalid", &ReadReq{Path: "/etc/passwd", Len: 1}, ErrProtocol},
		{"invalid entry", &ScanBatch{Entries: []Entry{{Path: "a", Type: TypeFile}, {Path: "a/../..", Type: TypeDir}}}, ErrProtocol},
		{"too large", &ScanReq{Path: ".", Rules: bigRules}, ErrTooLarge},
		{"nil", nil, nil},
		{"foreign", foreign{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			c := NewConn(nil, &out)
			err := c.Send(1, tt.msg)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Send = %v, want %v", err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("Send wrote %d bytes", out.Len())
			}
			if err := c.Send(2, &Cancel{}); err != nil {
				t.Fatalf("Send after refusal: %v", err)
			}
			if want := frame(KindCancel, 2, nil); !bytes.Equal(out.Bytes(), want) {
				t.Errorf("stream = %x, want only %x", out.Bytes(), want)
			}
		})
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestSendWriteErrorSticks(t *testing.T) {
	broken := errors.New("broken pipe")
	c := NewConn(nil, failWriter{broken})
	for i := range 2 {
		if err := c.Send(1, &Cancel{}); !errors.Is(err, broken) {
			t.Errorf("Send %d = %v, want %v", i, err, broken)
		}
	}
	if err := c.Send(1, &Data{Data: make([]byte, 2*bufSize)}); !errors.Is(err, broken) {
		t.Errorf("Send of a big payload = %v, want %v", err, broken)
	}
}

func TestSendFlushesLoneFrame(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := b.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if err := NewConn(a, a).Send(3, &ScanMore{N: 1}); err != nil {
			t.Errorf("Send: %v", err)
		}
	})
	id, m, err := NewConn(b, b).Recv()
	if err != nil {
		t.Fatalf("Recv: %v (was the frame left in the buffer?)", err)
	}
	if id != 3 || !reflect.DeepEqual(m, &ScanMore{N: 1}) {
		t.Errorf("Recv = %d, %+v", id, m)
	}
}

// payload returns the deterministic data of message i of sender s.
func payload(s, i int) []byte {
	n := (s + i) % 50
	if i%10 == 0 {
		n = 64<<10 + s*1000 + i
	}
	p := make([]byte, n)
	for j := range p {
		p[j] = byte(s*31 + i*7 + j)
	}
	return p
}

func TestSendConcurrent(t *testing.T) {
	const senders, perSender = 16, 120
	pr, pw := io.Pipe()
	send := NewConn(nil, pw)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range perSender {
				var m Message = &Data{Off: int64(i), Data: payload(s, i), Sum: Sum{byte(s), byte(i)}}
				if i%3 == 2 {
					m = &ScanMore{N: uint32(i)}
				}
				if err := send.Send(uint32(s), m); err != nil {
					t.Errorf("sender %d: Send %d: %v", s, i, err)
					return
				}
			}
		})
	}
	var closer sync.WaitGroup
	defer closer.Wait()
	closer.Go(func() {
		wg.Wait()
		pw.Close()
	})

	recv := NewConn(pr, nil)
	next := make([]int, senders)
	for {
		id, m, err := recv.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			pr.CloseWithError(err)
			t.Fatalf("Recv: %v", err)
		}
		s := int(id)
		if s >= senders {
			t.Fatalf("frame with id %d", id)
		}
		i := next[s]
		next[s]++
		var want Message = &Data{Off: int64(i), Data: payload(s, i), Sum: Sum{byte(s), byte(i)}}
		if i%3 == 2 {
			want = &ScanMore{N: uint32(i)}
		}
		if !reflect.DeepEqual(normalize(m), normalize(want)) {
			pr.CloseWithError(errors.New("test failed"))
			t.Fatalf("sender %d message %d arrived as %v %.60v, want %.60v", s, i, m.Kind(), m, want)
		}
	}
	for s, n := range next {
		if n != perSender {
			t.Errorf("sender %d: received %d frames, want %d", s, n, perSender)
		}
	}
}

func hello(lo, hi uint16, software string) Hello {
	return Hello{MinVersion: lo, MaxVersion: hi, Software: software}
}

func TestHandshake(t *testing.T) {
	tests := []struct {
		name        string
		local, peer Hello
		want        uint16
		wantErr     error
		wantText    []string
	}{
		{"same version", hello(1, 1, "fcp a"), hello(1, 1, "fcp b"), 1, nil, nil},
		{"older peer", hello(1, 3, "fcp new"), hello(1, 2, "fcp old"), 2, nil, nil},
		{"newer peer", hello(2, 4, "fcp old"), hello(3, 9, "fcp new"), 4, nil, nil},
		{"overlap in one version", hello(1, 2, "x"), hello(2, 2, "y"), 2, nil, nil},
		{"disjoint", hello(3, 4, "fcp 2.0"), hello(1, 2, "fcp 1.0 linux/arm64"), 0, ErrVersion,
			[]string{"3..4", "1..2", `"fcp 1.0 linux/arm64"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			ca, cb := NewConn(a, a), NewConn(b, b)
			var (
				wg      sync.WaitGroup
				peerGot Hello
				peerV   uint16
				peerErr error
			)
			wg.Go(func() { peerGot, peerV, peerErr = cb.Handshake(tt.peer) })
			got, v, err := ca.Handshake(tt.local)
			wg.Wait()

			if tt.wantErr != nil {
				for side, err := range map[string]error{"local": err, "peer": peerErr} {
					if !errors.Is(err, tt.wantErr) {
						t.Errorf("%s Handshake = %v, want %v", side, err, tt.wantErr)
					}
				}
				for _, s := range tt.wantText {
					if err != nil && !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %s", err, s)
					}
				}
				return
			}
			if err != nil || peerErr != nil {
				t.Fatalf("Handshake errors: local %v, peer %v", err, peerErr)
			}
			if v != tt.want || peerV != tt.want {
				t.Errorf("versions: local %d, peer %d; want %d", v, peerV, tt.want)
			}
			if got != tt.peer || peerGot != tt.local {
				t.Errorf("Hellos received: local %+v, peer %+v", got, peerGot)
			}

			wg.Go(func() {
				if err := ca.Send(7, &CloseReq{Root: 1}); err != nil {
					t.Errorf("Send after handshake: %v", err)
				}
			})
			id, m, err := cb.Recv()
			if err != nil || id != 7 || !reflect.DeepEqual(m, &CloseReq{Root: 1}) {
				t.Errorf("Recv after handshake = %d, %+v, %v", id, m, err)
			}
			wg.Wait()
		})
	}
}

func TestHandshakeBadPeer(t *testing.T) {
	good := hello(MinVersion, Version, "peer")
	helloFrame := frame(KindHello, 0, Encode(&good))
	noise := "Last login: Mon Jan  1 00:00:00 2024 from 10.0.0.1\n"
	tests := []struct {
		name     string
		writes   [][]byte // what the peer writes, in separate writes
		close    bool     // the peer closes after writing
		want     error
		wantText []string
	}{
		{"noise before magic", [][]byte{[]byte(noise), Magic[:], helloFrame}, false, ErrNoise,
			[]string{fmt.Sprintf("%q", noise), "(is a shell start-up file printing text?)"}},
		{"short noise then exit", [][]byte{[]byte("hi\n")}, true, ErrNoise, []string{`"hi\n"`}},
		{"noise after part of magic", [][]byte{Magic[:3], []byte("oops")}, false, ErrNoise, []string{`"\x89FCo`}},
		{"eighth bit stripped", [][]byte{append([]byte{0x09}, Magic[1:]...)}, false, ErrNoise, nil},
		{"CRLF mangled", [][]byte{{0x89, 'F', 'C', 'P', '\n', 0x1a, '\n'}}, false, ErrNoise, nil},
		{"closed at once", nil, true, io.ErrUnexpectedEOF, nil},
		{"closed inside magic", [][]byte{Magic[:5]}, true, io.ErrUnexpectedEOF, nil},
		{"closed after magic", [][]byte{Magic[:]}, true, io.ErrUnexpectedEOF, nil},
		{"first frame not Hello", [][]byte{Magic[:], frame(KindCancel, 0, nil)}, false, ErrProtocol, []string{"got Cancel, want Hello"}},
		{"invalid Hello", [][]byte{Magic[:], frame(KindHello, 0, Encode(&Hello{}))}, false, ErrProtocol, []string{"MinVersion is 0"}},
		{"oversized frame", [][]byte{Magic[:], header(math.MaxUint32, KindHello)}, false, ErrTooLarge, nil},
		{"incompatible", [][]byte{Magic[:], frame(KindHello, 0, Encode(&Hello{MinVersion: 100, MaxVersion: 200, Software: "fcp 9"}))}, false, ErrVersion,
			[]string{"100..200", `"fcp 9"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := net.Pipe()
			var wg sync.WaitGroup
			wg.Go(func() { io.Copy(io.Discard, b) })
			wg.Go(func() {
				for _, w := range tt.writes {
					if _, err := b.Write(w); err != nil {
						return
					}
				}
				if tt.close {
					b.Close()
				}
			})
			_, _, err := NewConn(a, a).Handshake(good)
			a.Close()
			wg.Wait()
			if !errors.Is(err, tt.want) {
				t.Fatalf("Handshake = %v, want %v", err, tt.want)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %s", err, s)
				}
			}
		})
	}
}

func TestHandshakeRefusesInvalidLocal(t *testing.T) {
	var out bytes.Buffer
	_, _, err := NewConn(strings.NewReader(""), &out).Handshake(Hello{MinVersion: 2, MaxVersion: 1})
	if !errors.Is(err, ErrProtocol) {
		t.Errorf("Handshake = %v, want ErrProtocol", err)
	}
	if out.Len() != 0 {
		t.Errorf("Handshake wrote %q", out.Bytes())
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name        string
		local, peer Hello
		want        uint16
		wantErr     bool
	}{
		{"equal", hello(1, 1, ""), hello(1, 1, ""), 1, false},
		{"highest common", hello(1, 5, ""), hello(2, 3, ""), 3, false},
		{"symmetric", hello(2, 3, ""), hello(1, 5, ""), 3, false},
		{"touching", hello(1, 2, ""), hello(2, 9, ""), 2, false},
		{"peer too new", hello(1, 2, ""), hello(3, 4, ""), 0, true},
		{"peer too old", hello(3, 4, ""), hello(1, 2, ""), 0, true},
		{"zero hellos", Hello{}, Hello{}, 0, true},
		{"empty local range", hello(3, 1, ""), hello(1, 3, ""), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Negotiate(tt.local, tt.peer)
			if tt.wantErr {
				if !errors.Is(err, ErrVersion) {
					t.Errorf("Negotiate = %d, %v; want ErrVersion", v, err)
				}
				return
			}
			if err != nil || v != tt.want {
				t.Errorf("Negotiate = %d, %v; want %d", v, err, tt.want)
			}
		})
	}
}

func BenchmarkSendRecvSmall(b *testing.B) {
	pr, pw := io.Pipe()
	send, recv := NewConn(nil, pw), NewConn(pr, nil)
	m := &ReadReq{Root: 1, Path: "some/dir/file.txt", Off: 1 << 20, Len: DefaultRead}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for range b.N {
			if err := send.Send(1, m); err != nil {
				b.Error(err)
				return
			}
		}
		pw.Close()
	})
	b.ReportAllocs()
	for range b.N {
		if _, _, err := recv.Recv(); err != nil {
			b.Fatal(err)
		}
	}
}
