package local

import (
	"testing"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

func TestZZScanUsr(t *testing.T) {
	for _, hash := range []bool{false, true} {
		e, err := Open("/usr", false)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		n, bytes := 0, int64(0)
		err = e.Scan(t.Context(), ".", endpoint.ScanOptions{Hash: hash}, func(ent *wire.Entry) error { n++; bytes += ent.Size; return nil })
		t.Logf("hash=%v n=%d bytes=%d err=%v in %v", hash, n, bytes, err, time.Since(start))
		e.Close()
	}
}
