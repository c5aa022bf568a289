// YAML: strict, field-by-field decoding of config mappings, so that every
// error names the key it is about and unknown keys are reported, not dropped.

package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/shepherd-proxy/shepherd/ring"
)

// fields maps each key a mapping may hold to the function that decodes its value.
type fields map[string]func(*yaml.Node) error

// decode walks mapping n and hands each value to its field; where names
// the mapping in errors ("top level", `pool "main"`).
func (fs fields) decode(n *yaml.Node, where string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: line %d: want a mapping of keys, got %s", where, n.Line, kindName(n))
	}
	kvs, err := pairs(n, where)
	if err != nil {
		return err
	}
	var unknown []string
	for _, kv := range kvs {
		k, v := kv[0], kv[1]
		set, ok := fs[k.Value]
		if !ok {
			unknown = append(unknown, fmt.Sprintf("%q (line %d)", k.Value, k.Line))
			continue
		}
		if err := set(v); err != nil {
			return fmt.Errorf("%s: %s: %w", where, k.Value, err)
		}
	}
	if len(unknown) > 0 {
		known := make([]string, 0, len(fs))
		for k := range fs {
			known = append(known, k)
		}
		slices.Sort(known)
		return fmt.Errorf("%s: unknown key %s; known keys: %s",
			where, strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return nil
}

// pairs returns the key and value nodes of mapping n in file order,
// rejecting a key given twice (decoding into a yaml.Node does not).
func pairs(n *yaml.Node, where string) ([][2]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: line %d: want a mapping, got %s", where, n.Line, kindName(n))
	}
	out := make([][2]*yaml.Node, 0, len(n.Content)/2)
	line := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if first, dup := line[k.Value]; dup {
			return nil, fmt.Errorf("%s: line %d: key %q already defined at line %d", where, k.Line, k.Value, first)
		}
		line[k.Value] = k.Line
		out = append(out, [2]*yaml.Node{k, n.Content[i+1]})
	}
	return out, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

func scalar(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return fmt.Errorf("line %d: want a single value, got %s", n.Line, kindName(n))
	}
	return nil
}

func str(dst *string) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if err := scalar(n); err != nil {
			return err
		}
		*dst = n.Value
		return nil
	}
}

// nonNegInt decodes a whole number ≥ 0.
func nonNegInt(dst *int) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if err := scalar(n); err != nil {
			return err
		}
		var v int
		if n.Tag != "!!int" || n.Decode(&v) != nil || v < 0 {
			return fmt.Errorf("line %d: %q is not a whole number ≥ 0", n.Line, n.Value)
		}
		*dst = v
		return nil
	}
}

// loopCount decodes event_loops: 1 to 64, or -1 for none.
func loopCount(dst *int) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if err := scalar(n); err != nil {
			return err
		}
		var v int
		if n.Tag != "!!int" || n.Decode(&v) != nil || !validLoops(v) {
			return fmt.Errorf("line %d: %q: want 1 to 64 event loops, or -1 for none (every client on goroutines)", n.Line, n.Value)
		}
		*dst = v
		return nil
	}
}

func validLoops(v int) bool { return v == -1 || v >= 1 && v <= 64 }

// positive decodes a whole number ≥ 1 for a key where 0 would mean
// nothing sensible; leaving the key out gives the default instead.
func positive(dst *int, def any) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if err := nonNegInt(dst)(n); err != nil {
			return err
		}
		if *dst == 0 {
			return fmt.Errorf("line %d: 0 is not allowed; want at least 1 (leave the key out for the default, %v)", n.Line, def)
		}
		return nil
	}
}

// positiveDuration is duration for a key where 0 would mean nothing
// sensible; leaving the key out gives the default instead.
func positiveDuration(dst *time.Duration, def time.Duration) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if err := duration(dst)(n); err != nil {
			return err
		}
		if *dst == 0 {
			return fmt.Errorf("line %d: %s is not allowed; want more than 0 (leave the key out for the default, %v)", n.Line, n.Value, def)
		}
		return nil
	}
}

func boolean(dst *bool) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if err := scalar(n); err != nil {
			return err
		}
		if n.Tag != "!!bool" || n.Decode(dst) != nil {
			return fmt.Errorf("line %d: %q is not true or false", n.Line, n.Value)
		}
		return nil
	}
}

// duration decodes Go duration syntax ("250ms", "1.5s"); a bare number is
// rejected because its unit would be a guess.
func duration(dst *time.Duration) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if err := scalar(n); err != nil {
			return err
		}
		if n.Tag == "!!int" || n.Tag == "!!float" {
			return fmt.Errorf("line %d: %s has no unit; write a duration such as %sms or %ss", n.Line, n.Value, n.Value, n.Value)
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil || d < 0 {
			return fmt.Errorf("line %d: %q is not a duration ≥ 0 such as 250ms or 1s", n.Line, n.Value)
		}
		*dst = d
		return nil
	}
}

// millis decodes twemproxy's whole milliseconds.
func millis(dst *time.Duration) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		var ms int
		if err := nonNegInt(&ms)(n); err != nil {
			return fmt.Errorf("%w (twemproxy durations are whole milliseconds)", err)
		}
		*dst = time.Duration(ms) * time.Millisecond
		return nil
	}
}

// positiveMillis is millis for a key where 0 would mean nothing sensible.
func positiveMillis(dst *time.Duration, def string) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if err := millis(dst)(n); err != nil {
			return err
		}
		if *dst == 0 {
			return fmt.Errorf("line %d: 0 is not allowed; want at least 1 ms (leave the key out for %s)", n.Line, def)
		}
		return nil
	}
}

// servers decodes a list of "host:port:weight [name]" entries.
func servers(dst *[]ring.Node) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("line %d: want a list of \"host:port:weight [name]\", got %s", n.Line, kindName(n))
		}
		for i, s := range n.Content {
			if err := scalar(s); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
			node, err := ring.ParseNode(s.Value)
			if err != nil {
				return fmt.Errorf("[%d] %q (line %d): %w", i, s.Value, s.Line, err)
			}
			*dst = append(*dst, node)
		}
		return nil
	}
}

// oneOf wraps a string field so that only the listed values (or empty) pass.
func oneOf(dst *string, allowed ...string) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if err := str(dst)(n); err != nil {
			return err
		}
		if *dst != "" && !slices.Contains(allowed, *dst) {
			return fmt.Errorf("line %d: %q is not supported; want one of %s", n.Line, *dst, strings.Join(allowed, ", "))
		}
		return nil
	}
}

// hashTag decodes a hash tag: empty, or exactly two bytes such as "{}".
func hashTag(dst *string) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if n.Kind == yaml.MappingNode && len(n.Content) == 0 {
			return fmt.Errorf("line %d: YAML reads a bare {} as an empty mapping; quote it: hash_tag: \"{}\"", n.Line)
		}
		if err := str(dst)(n); err != nil {
			return err
		}
		if *dst != "" && len(*dst) != 2 {
			return fmt.Errorf("line %d: %q is not two characters such as \"{}\"", n.Line, *dst)
		}
		return nil
	}
}
