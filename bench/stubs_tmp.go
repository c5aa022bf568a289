package bench

import "context"

const ()

func runComments(ctx context.Context, e *Env, s *Scenario, res *Result) error { return nil }

