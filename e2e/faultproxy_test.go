package e2e

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// counted is the direction in which a faultProxy counts the bytes after
// which it cuts a connection.
type counted int

const (
	toServer counted = iota // client to server: what a push sends
	toClient                // server to client: what a pull receives
)

// faultProxy is a TCP proxy on a loopback port in front of one address
// (the test sshd) that cuts the connections it forwards: each one after a
// number of bytes has passed in one direction, or all of them on demand.
// A cut closes both sides at once, with a reset, as a dropped link or a
// lost NAT entry looks to both ends.
type faultProxy struct {
	port   int
	target string
	ln     net.Listener
	dir    counted
	// cutAfter, if set, returns for the n-th accepted connection (from 0)
	// how many bytes may pass in direction dir before the connection is
	// cut; a negative count never cuts. It is called once per
	// connection, from the accepting goroutine only.
	cutAfter func(n int) int64

	accepted atomic.Int64 // connections accepted
	cuts     atomic.Int64 // connections cut, by count or on demand
	// toServerBytes and toClientBytes count what was forwarded each way,
	// each connection's share added when it ends.
	toServerBytes, toClientBytes atomic.Int64

	mu    sync.Mutex
	conns map[*proxyConn]struct{}
	wg    sync.WaitGroup
}

// proxyConn is one forwarded connection: the client's side and ours to the
// target.
type proxyConn struct {
	client, server net.Conn
	once           sync.Once
}

// cut closes both sides of c. It is safe to call more than once.
func (c *proxyConn) cut() bool {
	cut := false
	c.once.Do(func() {
		for _, s := range []net.Conn{c.client, c.server} {
			if tc, ok := s.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			s.Close()
		}
		cut = true
	})
	return cut
}

// startFaultProxy listens on a free loopback port and forwards every
// connection to target, cutting it once cutAfter bytes have passed in
// direction dir (cutAfter nil: never). The proxy is stopped when the test
// ends.
func startFaultProxy(t *testing.T, target string, dir counted, cutAfter func(n int) int64) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &faultProxy{
		port:     ln.Addr().(*net.TCPAddr).Port,
		target:   target,
		ln:       ln,
		dir:      dir,
		cutAfter: cutAfter,
		conns:    map[*proxyConn]struct{}{},
	}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for n := 0; ; n++ {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		limit := int64(-1)
		if p.cutAfter != nil {
			limit = p.cutAfter(n)
		}
		p.wg.Add(1)
		go p.forward(client, limit)
	}
}

// forward copies between client and a new connection to the target until
// either side closes or limit bytes have passed in the counted direction.
func (p *faultProxy) forward(client net.Conn, limit int64) {
	defer p.wg.Done()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	c := &proxyConn{client: client, server: server}
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()

	up, down := limit, int64(-1)
	if p.dir == toClient {
		up, down = -1, limit
	}
	var pumps sync.WaitGroup
	pumps.Go(func() { p.toServerBytes.Add(p.pump(c, server, client, up)) })
	pumps.Go(func() { p.toClientBytes.Add(p.pump(c, client, server, down)) })
	pumps.Wait()
}

// pump copies from src to dst and returns the bytes it forwarded. With
// limit >= 0, it forwards exactly limit bytes and then cuts the
// connection. Either way, when src ends, the whole connection is closed.
func (p *faultProxy) pump(c *proxyConn, dst, src net.Conn, limit int64) int64 {
	defer c.cut()
	if limit < 0 {
		n, _ := io.Copy(dst, src)
		return n
	}
	n, err := io.CopyN(dst, src, limit)
	if err == nil && c.cut() {
		p.cuts.Add(1)
	}
	return n
}

// cutAll cuts every open connection now and returns how many it cut.
func (p *faultProxy) cutAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		if c.cut() {
			n++
		}
	}
	p.cuts.Add(int64(n))
	return n
}

// close stops accepting, cuts what is open and waits for every goroutine
// of the proxy.
func (p *faultProxy) close() {
	p.ln.Close()
	p.cutAll()
	p.wg.Wait()
}
