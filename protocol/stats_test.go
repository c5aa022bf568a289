package protocol

import (
	"bufio"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestReadStats(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("STAT pid 42\r\nSTAT version 1.6.18\r\nSTAT note two words\r\nEND\r\nSTAT after 1\r\n"))
	got, err := ReadStats(br)
	want := []Stat{{"pid", "42"}, {"version", "1.6.18"}, {"note", "two words"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	if rest, _ := br.ReadString('\n'); rest != "STAT after 1\r\n" {
		t.Errorf("read past END: the rest is %q", rest)
	}
	if got, err := ReadStats(bufio.NewReader(strings.NewReader("END\r\n"))); err != nil || len(got) != 0 {
		t.Errorf("empty reply: got %q, %v; want none", got, err)
	}
	for _, bad := range []string{"ERROR\r\n", "STAT pid\r\nEND\r\n", "VALUE a 0 1\r\nEND\r\n"} {
		if _, err := ReadStats(bufio.NewReader(strings.NewReader(bad))); err == nil || !strings.Contains(err.Error(), "unexpected line") {
			t.Errorf("%q: got %v; want an unexpected-line error", bad, err)
		}
	}
	if _, err := ReadStats(bufio.NewReader(strings.NewReader("STAT pid 42\r\n"))); err != io.EOF {
		t.Errorf("cut short: got %v; want io.EOF", err)
	}
}
