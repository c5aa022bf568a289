// Herd: the herd: section, per-prefix thundering-herd rules.

package main

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// parseHerd reads
//
//	herd:
//	  default: {stale_ttl: 30s, hold: 1s, lease_ttl: 10s}   # keys no rule names; omit to leave them unprotected
//	  rules:
//	    - prefix: "thread:"
//	      stale_ttl: 60s
//	      origin: http://127.0.0.1:8080/fill?key={key}
//
// and checks each rule, so that errors name it; defaults are filled later,
// with the rest of the config (proxy.Config.FillDefaults).
func parseHerd(n *yaml.Node) (*proxy.HerdConfig, error) {
	var defNode, rulesNode *yaml.Node
	if err := (fields{"default": capture(&defNode), "rules": capture(&rulesNode)}).decode(n, "herd"); err != nil {
		return nil, err
	}
	h := &proxy.HerdConfig{}
	if defNode != nil {
		r := &herd.Rule{}
		if err := ruleFields(r).decode(defNode, "herd: default"); err != nil {
			return nil, err
		}
		if err := checkRule(*r); err != nil {
			return nil, fmt.Errorf("herd: default: %w", err)
		}
		h.Default = r
	}
	if rulesNode == nil {
		return h, nil
	}
	if rulesNode.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("herd: rules: line %d: want a list of rules, got %s", rulesNode.Line, kindName(rulesNode))
	}
	seen := map[string]int{}
	for i, rn := range rulesNode.Content {
		var r herd.Rule
		where := fmt.Sprintf("herd: rules[%d]", i)
		rf := ruleFields(&r)
		rf["prefix"] = str(&r.Prefix)
		if err := rf.decode(rn, where); err != nil {
			return nil, err
		}
		if r.Prefix == "" {
			return nil, fmt.Errorf("%s: prefix: a rule needs a key prefix (use herd: default: for all other keys)", where)
		}
		if j, dup := seen[r.Prefix]; dup {
			return nil, fmt.Errorf("%s: prefix %q is also rules[%d]", where, r.Prefix, j)
		}
		seen[r.Prefix] = i
		if err := checkRule(r); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		h.Rules = append(h.Rules, r)
	}
	return h, nil
}

func ruleFields(r *herd.Rule) fields {
	return fields{
		"stale_ttl":      positiveDuration(&r.StaleTTL, herd.DefaultStaleTTL),
		"hold":           positiveDuration(&r.Hold, herd.DefaultHold),
		"lease_ttl":      positiveDuration(&r.LeaseTTL, herd.DefaultLeaseTTL),
		"origin":         str(&r.Origin),
		"ttl":            duration(&r.TTL), // 0: no expiry
		"origin_timeout": positiveDuration(&r.OriginTimeout, herd.DefaultOriginTimeout),
	}
}

// checkRule runs herd's checks on r as the file wrote it (herd reads a
// zero field as its default and changes nothing), so the error names the
// rule where the file has it.
func checkRule(r herd.Rule) error { return r.Validate() }
