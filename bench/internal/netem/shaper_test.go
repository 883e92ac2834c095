package netem

import (
	"testing"
	"time"
)

func TestShaper(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type arrival struct {
		at      time.Time
		bytes   int
		deliver time.Time // zero: dropped
	}
	tests := []struct {
		name     string
		rate     float64 // bits per second
		delay    time.Duration
		queue    int64
		arrivals []arrival
	}{
		{
			name:  "unlimited rate adds only the delay",
			delay: 25 * time.Millisecond,
			arrivals: []arrival{
				{at: ms(0), bytes: 1 << 20, deliver: ms(25)},
				{at: ms(0), bytes: 1 << 20, deliver: ms(25)},
			},
		},
		{
			name:  "back-to-back packets are serialised",
			rate:  8000, // 1000 bytes/s: 100 bytes take 100 ms
			delay: 10 * time.Millisecond,
			queue: 1000,
			arrivals: []arrival{
				{at: ms(0), bytes: 100, deliver: ms(110)},
				{at: ms(0), bytes: 100, deliver: ms(210)},
				{at: ms(500), bytes: 100, deliver: ms(610)}, // idle link: no wait
			},
		},
		{
			name:  "tail drop beyond the queue, room again once it drains",
			rate:  8000,
			queue: 250,
			arrivals: []arrival{
				{at: ms(0), bytes: 100, deliver: ms(100)},
				{at: ms(0), bytes: 100, deliver: ms(200)},
				{at: ms(0), bytes: 100},                     // 200 queued + 100 > 250
				{at: ms(0), bytes: 50, deliver: ms(250)},    // a smaller one still fits
				{at: ms(150), bytes: 100, deliver: ms(350)}, // 100 left + 100 fits
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewShaper(tt.rate, tt.delay, tt.queue)
			for i, a := range tt.arrivals {
				got, ok := s.Admit(a.at, a.bytes)
				if want := !a.deliver.IsZero(); ok != want {
					t.Fatalf("arrival %d: admitted %v, want %v", i, ok, want)
				}
				if ok && !got.Equal(a.deliver) {
					t.Errorf("arrival %d: delivered at +%v, want +%v", i, got.Sub(t0), a.deliver.Sub(t0))
				}
			}
		})
	}
}

func TestBDP(t *testing.T) {
	if got, want := BDP(1e9, 50*time.Millisecond), int64(6_250_000); got != want {
		t.Errorf("BDP(1 Gbit/s, 50 ms) = %d, want %d", got, want)
	}
}
