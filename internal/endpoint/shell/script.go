package shell

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// script is the text of one command. Strings from outside (paths, link
// targets) appear only in a header that assigns each to a shell variable,
// in a form the shell gives no meaning to; the body uses the variable,
// always inside double quotes. A string of printable ASCII without a
// single quote is assigned as a single-quoted literal, which the shell
// takes byte for byte; any other string is written as octal escapes
// (\0ooo for every byte outside printable ASCII, and for ' and \) that
// printf %b decodes, so the script itself is ASCII. The decoded strings of
// a command come from one printf, joined by a separator byte (a control
// character) none of them contains and split by the shell's field
// splitting, to pay for one command substitution (one fork) per command,
// not one per path.
type script struct {
	vars  map[string]string // string → variable name
	lits  []assign          // literal assignments
	enc   []assign          // assignments decoded by printf
	body  bytes.Buffer
	nvars int
}

type assign struct {
	name  string
	value string
}

// maxDecode bounds the escaped text of one printf, so that a shell whose
// printf is not a builtin stays within the argument limit of exec.
const maxDecode = 64 << 10

// str returns the name of a variable that holds v.
func (s *script) str(v string) string {
	if name, ok := s.vars[v]; ok {
		return name
	}
	if s.vars == nil {
		s.vars = map[string]string{}
	}
	s.nvars++
	name := "v" + strconv.Itoa(s.nvars)
	s.vars[v] = name
	if literal(v) {
		s.lits = append(s.lits, assign{name, v})
	} else {
		s.enc = append(s.enc, assign{name, v})
	}
	return name
}

// f appends formatted text to the body. Arguments must not come from
// outside: those go through str.
func (s *script) f(format string, args ...any) {
	fmt.Fprintf(&s.body, format, args...)
}

// line appends a line of text to the body.
func (s *script) line(text string) {
	s.body.WriteString(text)
	s.body.WriteByte('\n')
}

// bytes returns the command: the assignments, then the body, as one
// brace group, so the shell parses all of it before running any of it
// (what a command reads from standard input is then never taken for
// script). seq numbers the command in its markers.
func (s *script) bytes(seq uint64) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "{ Q=%d\n", seq)
	for _, a := range s.lits {
		fmt.Fprintf(&b, "%s='%s'\n", a.name, a.value)
	}
	s.decode(&b)
	b.Write(s.body.Bytes())
	b.WriteString("}\n")
	return b.Bytes()
}

// decode writes the assignments of the strings that printf decodes.
func (s *script) decode(b *bytes.Buffer) {
	rest := s.enc
	for len(rest) > 0 {
		sep, ok := separator(rest)
		if !ok {
			// Every candidate byte occurs in some string: decode one by
			// one, keeping a trailing newline with a sentinel.
			a := rest[0]
			rest = rest[1:]
			fmt.Fprintf(b, "%s=$(printf '%%bX' '%s'); %s=${%s%%X}\n", a.name, escape(a.value), a.name, a.name)
			continue
		}
		n, size := 0, 0
		for n < len(rest) && (n == 0 || size+len(rest[n].value)*5 < maxDecode) {
			size += len(rest[n].value) * 5
			n++
		}
		fmt.Fprintf(b, "IFS='%c'; set -- $(printf '%%b\\%03o'", sep, sep)
		for _, a := range rest[:n] {
			fmt.Fprintf(b, " '%s'", escape(a.value))
		}
		b.WriteString("); unset IFS\n")
		for i, a := range rest[:n] {
			fmt.Fprintf(b, "%s=${%d}\n", a.name, i+1)
		}
		rest = rest[n:]
	}
}

// separators are the bytes that may join decoded strings: control
// characters that are not IFS white space.
var separators = []byte("\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f")

// separator returns a byte that occurs in none of the first strings of
// as (as many as fit one printf), and false if every candidate does.
func separator(as []assign) (byte, bool) {
	var seen [256]bool
	size := 0
	for i, a := range as {
		if i > 0 && size+len(a.value)*5 >= maxDecode {
			break
		}
		size += len(a.value) * 5
		for j := 0; j < len(a.value); j++ {
			seen[a.value[j]] = true
		}
	}
	for _, c := range separators {
		if !seen[c] {
			return c, true
		}
	}
	return 0, false
}

// literal reports whether v can be assigned as a single-quoted literal:
// printable ASCII without a single quote.
func literal(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e || c == '\'' {
			return false
		}
	}
	return true
}

// escape returns v as an argument for printf %b, to be put in single
// quotes: printable ASCII but for ' and \ as it is, any other byte as
// \0 and three octal digits.
func escape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 0x20 && c <= 0x7e && c != '\'' && c != '\\' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "\\0%03o", c)
	}
	return b.String()
}

// maxArgs bounds the bytes of the arguments the script gives one
// command, well under any system's ARG_MAX.
const maxArgs = 64 << 10

// chunk splits idx into consecutive runs whose arguments, size(i) bytes
// for idx[i], one command can take.
func chunk(idx []int, size func(i int) int) [][]int {
	var out [][]int
	start, total := 0, 0
	for i := range idx {
		n := size(idx[i]) + 8 // and a pointer
		if i > start && total+n > maxArgs {
			out = append(out, idx[start:i])
			start, total = i, 0
		}
		total += n
	}
	if start < len(idx) {
		out = append(out, idx[start:])
	}
	return out
}

// octal returns mode bits as an octal number for chmod and mkdir.
func octal(mode uint32) string {
	return fmt.Sprintf("%04o", mode&0o7777)
}

// touchTime returns mtime (ns) as the two dates fcp_touch takes: seconds
// with nanoseconds, for a touch that reads them (GNU), and whole seconds,
// rounded down, for one that does not (busybox).
func touchTime(mtime int64) (ns, s string) {
	sec, nsec := mtime/1e9, mtime%1e9
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	s = "@" + strconv.FormatInt(sec, 10)
	switch {
	case mtime >= 0:
		ns = fmt.Sprintf("@%d.%09d", mtime/1e9, mtime%1e9)
	default:
		ns = fmt.Sprintf("@-%d.%09d", -mtime/1e9, -mtime%1e9)
	}
	return ns, s
}
