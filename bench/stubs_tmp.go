package bench

import "context"

const (
	HerdOff      = "off"
	HerdOn       = "on"
	HerdOrigin   = "origin"
	FaultStop    = "stop"
	FaultKill    = "kill"
	FaultSlow    = "slow"
	ChangeAdd    = "add"
	ChangeRemove = "remove"
)

func runHerd(ctx context.Context, e *Env, s *Scenario, res *Result) error      { return nil }
func runFailover(ctx context.Context, e *Env, s *Scenario, res *Result) error  { return nil }
func runRebalance(ctx context.Context, e *Env, s *Scenario, res *Result) error { return nil }
func runComments(ctx context.Context, e *Env, s *Scenario, res *Result) error  { return nil }

func (r *Report) WriteHTML(path string) error { return nil }
