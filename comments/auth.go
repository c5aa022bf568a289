// Auth: single sign-on the way comment widgets do it. The embedding site
// signs a login payload with its per-site secret; the service verifies it
// once (refusing forgeries, expired and replayed tokens), maps it to its own
// user and answers a session token signed with its own key, which the
// widget sends with each write.

package comments

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Errors of identity and rights; the HTTP layer maps them to 401 and 403.
var (
	ErrUnauthenticated = errors.New("comments: not signed in")
	ErrForbidden       = errors.New("comments: not allowed")
	ErrBadToken        = errors.New("comments: bad token")
	ErrReplayed        = errors.New("comments: token already used")
)

// Limits on login tokens.
const (
	maxTokenLife = 10 * time.Minute // exp - iat; bounds the replay cache's memory per token
	clockSkew    = time.Minute      // an iat this far in the future is still accepted
	sessionLife  = 12 * time.Hour
	maxToken     = 4096
)

// Login is the payload an embedding site signs for its logged-in user.
type Login struct {
	Forum     string `json:"forum"`         // the site's forum slug; selects the secret
	ID        string `json:"id"`            // the site's own user id
	Name      string `json:"name"`          // display name
	Moderator bool   `json:"mod,omitempty"` // may approve, edit and delete any post of the forum
	IssuedAt  int64  `json:"iat"`           // unix seconds
	Expires   int64  `json:"exp"`           // unix seconds
}

// Identity is who a request acts as: a user of the service, signed in
// through one forum's single sign-on. A nil *Identity is a guest.
type Identity struct {
	User      int64 `json:"uid"`
	Forum     int64 `json:"fid"`
	Moderator bool  `json:"mod,omitempty"`
	Expires   int64 `json:"exp"`
}

// canModerate reports whether who moderates forum.
func (who *Identity) canModerate(forum int64) bool {
	return who != nil && who.Moderator && who.Forum == forum
}

// Sign returns the token for payload v under secret:
// base64url(JSON) "." base64url(HMAC-SHA256(secret, base64url(JSON))).
// An embedding site does the same in its own language.
func Sign(secret []byte, v any) string {
	body := base64.RawURLEncoding.EncodeToString(encode(v))
	return body + "." + base64.RawURLEncoding.EncodeToString(mac(secret, body))
}

func mac(secret []byte, body string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(body))
	return h.Sum(nil)
}

// verify checks token's signature with the secret that secretFor returns
// for its payload (nil: no such site) and decodes the payload into v.
// The payload is decoded before it is trusted only to pick the secret.
func verify(token string, v any, secretFor func(payload []byte) []byte) error {
	body, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > maxToken {
		return fmt.Errorf("%w: malformed", ErrBadToken)
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(body)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("%w: not base64url", ErrBadToken)
	}
	secret := secretFor(payload)
	if secret == nil || !hmac.Equal(got, mac(secret, body)) { // constant time
		return fmt.Errorf("%w: signature", ErrBadToken)
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("%w: payload: %v", ErrBadToken, err)
	}
	return nil
}

// checkTimes refuses a login outside [iat - skew, exp], or one whose life
// is longer than maxTokenLife.
func (l *Login) checkTimes(now time.Time) error {
	iat, exp := time.Unix(l.IssuedAt, 0), time.Unix(l.Expires, 0)
	switch {
	case !exp.After(iat) || exp.Sub(iat) > maxTokenLife:
		return fmt.Errorf("%w: lifetime must be in (0, %v]", ErrBadToken, maxTokenLife)
	case iat.After(now.Add(clockSkew)):
		return fmt.Errorf("%w: issued in the future", ErrBadToken)
	case !now.Before(exp):
		return fmt.Errorf("%w: expired", ErrBadToken)
	}
	return nil
}

// Keys holds the secrets: one per site (forum slug) for login tokens, and
// the service's own for session tokens.
type Keys struct {
	Sites map[string][]byte // forum slug -> secret shared with that site; "*": every other forum

	Session []byte // signs sessions; nil: random, valid for this process only
}

// ParseSiteSecrets reads "slug secret" pairs, one per line or separated by
// commas (blank lines and #-comments skipped), as COMMENTS_SSO_SECRETS
// and --sso-secrets hold them.
func ParseSiteSecrets(s string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' }) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		slug, secret, ok := strings.Cut(line, " ")
		secret = strings.TrimSpace(secret)
		if !ok || slug == "" || len(secret) < 16 {
			return nil, fmt.Errorf("%w: site secret line %q: want \"slug secret\" with a secret of 16 bytes or more", ErrInvalid, slug)
		}
		out[slug] = []byte(secret)
	}
	return out, nil
}

// replayCache remembers the signatures of used login tokens until they
// expire. Memory is bounded: at most max entries, each kept no longer
// than maxTokenLife; when full of unexpired entries it refuses new logins
// (fail closed) rather than forget.
type replayCache struct {
	max int
	mu  sync.Mutex // guards seen
	// seen maps a token's signature to its expiry.
	seen map[string]time.Time
}

// ErrBusy: the replay cache is full; the login may be retried later.
var ErrBusy = errors.New("comments: too many logins, retry later")

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, seen: map[string]time.Time{}}
}

// use records sig until exp; ErrReplayed if it was already used.
func (rc *replayCache) use(sig string, exp, now time.Time) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if e, ok := rc.seen[sig]; ok && now.Before(e) {
		return ErrReplayed
	}
	if len(rc.seen) >= rc.max {
		rc.sweep(now)
	}
	if len(rc.seen) >= rc.max {
		return ErrBusy
	}
	rc.seen[sig] = exp
	return nil
}

func (rc *replayCache) sweep(now time.Time) {
	for k, e := range rc.seen {
		if !now.Before(e) {
			delete(rc.seen, k)
		}
	}
}

func randomKey() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// siteSecret picks the secret of the site a login payload names, or the
// "*" secret (one site with many forums) when that forum has none.
func (s *Service) siteSecret(payload []byte) []byte {
	var l struct{ Forum string }
	if json.Unmarshal(payload, &l) != nil || l.Forum == "" {
		return nil
	}
	if secret, ok := s.keys.Sites[l.Forum]; ok {
		return secret
	}
	return s.keys.Sites["*"]
}

// SessionToken is what a login answers: the session to send as
// "Authorization: Bearer <token>", and who it is.
type SessionToken struct {
	Token     string `json:"session"`
	User      *User  `json:"user"`
	Moderator bool   `json:"moderator"`
	Expires   int64  `json:"exp"`
}

// Login verifies a site's signed login token, refuses replays, maps the
// site's user to the service's own (created on first login) and returns
// a session.
func (s *Service) Login(ctx context.Context, token string) (*SessionToken, error) {
	var l Login
	if err := verify(token, &l, s.siteSecret); err != nil {
		return nil, err
	}
	now := s.now()
	if err := l.checkTimes(now); err != nil {
		return nil, err
	}
	if err := checkText(l.ID, maxName); err != nil {
		return nil, fmt.Errorf("login id: %w", err)
	}
	if err := checkText(l.Name, maxName); err != nil {
		return nil, fmt.Errorf("login name: %w", err)
	}
	_, sig, _ := strings.Cut(token, ".")
	if err := s.replay.use(sig, time.Unix(l.Expires, 0), now); err != nil {
		return nil, err
	}
	f, err := s.store.forumBySlug(ctx, l.Forum)
	if err != nil {
		return nil, err
	}
	u, err := s.store.ssoUser(ctx, f.ID, l.ID, l.Name, now)
	if err != nil {
		return nil, err
	}
	who := &Identity{User: u.ID, Forum: f.ID, Moderator: l.Moderator, Expires: now.Add(sessionLife).Unix()}
	return &SessionToken{Token: Sign(s.keys.Session, who), User: u, Moderator: who.Moderator, Expires: who.Expires}, nil
}

// Session verifies a session token; ErrUnauthenticated if it is forged or
// expired. A session is a bearer credential, replayable until it expires,
// as a session cookie is.
func (s *Service) Session(token string) (*Identity, error) {
	var who Identity
	if err := verify(token, &who, func([]byte) []byte { return s.keys.Session }); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	if !s.now().Before(time.Unix(who.Expires, 0)) {
		return nil, fmt.Errorf("%w: session expired", ErrUnauthenticated)
	}
	return &who, nil
}
