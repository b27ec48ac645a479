package reconcile

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readLine hands out a last line without a newline only at a clean end; a
// line cut by a read error comes back with the error, never as a line.
func TestReadLine(t *testing.T) {
	read := func(r io.Reader) (lines []string, err error) {
		br := bufio.NewReaderSize(r, 16)
		for {
			b, err := readLine(br)
			if err != nil || b == nil {
				return append(lines, string(b)), err
			}
			lines = append(lines, string(b))
		}
	}
	lines, err := read(strings.NewReader("a\nbb\nlast"))
	if err != nil || strings.Join(lines, "|") != "a|bb|last|" {
		t.Errorf("clean end: %q, %v", lines, err)
	}
	cut := errors.New("connection reset")
	lines, err = read(io.MultiReader(strings.NewReader("a\npartial-li"), iotest.ErrReader(cut)))
	if !errors.Is(err, cut) || strings.Join(lines, "|") != "a|partial-li" {
		t.Errorf("failed read: %q, %v; want the partial line with the error", lines, err)
	}
	// Lines longer than the reader's buffer are joined; past maxLine they
	// are refused with the first 64 KB.
	long := strings.Repeat("x", 100)
	if lines, err = read(strings.NewReader(long + "\n")); err != nil || lines[0] != long {
		t.Errorf("long line: %d bytes, %v", len(lines[0]), err)
	}
	for _, tail := range []string{"\nnext\n", ""} {
		br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("y"), maxLine+1)), strings.NewReader(tail)), 16)
		b, err := readLine(br)
		if !errors.Is(err, errLineTooLong) || len(b) != 64<<10 {
			t.Errorf("too long (tail %q): %v, kept %d bytes", tail, err, len(b))
		}
		b, err = readLine(br)
		if want := strings.Trim(tail, "\n"); err != nil || string(b) != want {
			t.Errorf("after a long line: %q, %v; want %q", b, err, want)
		}
	}
	// Exactly maxLine is still a line.
	b, err := readLine(bufio.NewReaderSize(bytes.NewReader(append(bytes.Repeat([]byte("z"), maxLine), '\n')), 16))
	if err != nil || len(b) != maxLine {
		t.Errorf("maxLine bytes: %d, %v", len(b), err)
	}
}
