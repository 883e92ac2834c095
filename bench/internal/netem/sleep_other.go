//go:build !linux

package netem

import "time"

func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }
