package protocol

import (
	"bufio"
	"fmt"
	"strings"
)

// Stat is one "STAT name value" line of a stats reply.
type Stat struct{ Name, Value string }

// ReadStats reads a stats reply through its END line and returns its STAT
// lines in order. Any other line (ERROR, say) is an error that quotes it.
func ReadStats(br *bufio.Reader) ([]Stat, error) {
	var out []Stat
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "END" {
			return out, nil
		}
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 || f[0] != "STAT" {
			return nil, fmt.Errorf("protocol: stats reply: unexpected line %q", line)
		}
		out = append(out, Stat{f[1], f[2]})
	}
}
