// Embed: GET /embed/{thread}, the discussion as a plain HTML page with a
// reply form and a small script (no build step), for an iframe.

package comments

import (
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

//go:embed embed.html
var embedHTML string

//go:embed widget.js
var widgetJS []byte

var embedTmpl = template.Must(template.New("embed").Funcs(template.FuncMap{
	"when":    func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }, // widget.js shows it in the reader's zone
	"iso":     iso,
	"initial": initial,
	"hue":     hue,
}).Parse(embedHTML))

// embedData is what embed.html renders.
type embedData struct {
	*Page
	PageSize int
	SSO      string // the site's signed login for its user, from ?sso=; "" for a guest
	Prev     int    // 0: none
	Next     int    // 0: none
}

func (s *Service) handleEmbed(w http.ResponseWriter, r *http.Request, st *Stats) {
	page, err := s.embedPage(r)
	st.WriteHeaders(w.Header())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := embedTmpl.Execute(w, page); err != nil {
		s.log.Warn("comments: render embed", "err", err)
	}
}

func (s *Service) embedPage(r *http.Request) (*embedData, error) {
	id, err := pathID(r, "thread")
	if err != nil {
		return nil, err
	}
	p, err := s.pageFor(r, id)
	if err != nil {
		return nil, err
	}
	d := &embedData{Page: p, PageSize: s.pageSize, SSO: r.URL.Query().Get("sso")}
	if p.Number > 1 {
		d.Prev = p.Number - 1
	}
	return d, nil
}

// iso is a time as <time datetime> wants it (t may be a *time.Time).
func iso(t any) string {
	switch t := t.(type) {
	case time.Time:
		return t.UTC().Format(time.RFC3339)
	case *time.Time:
		if t != nil {
			return t.UTC().Format(time.RFC3339)
		}
	}
	return ""
}

// initial is the avatar letter of a user (nil when the row is missing).
func initial(u *User) string {
	if u == nil {
		return "?"
	}
	for _, r := range u.Name {
		return strings.ToUpper(string(r))
	}
	return "?"
}

// hue gives each user an avatar colour; widget.js computes the same.
func hue(u *User) int {
	h := 0
	if u != nil {
		for _, r := range u.Name {
			h = (h*31 + int(r)) % 360
		}
	}
	return h
}

// handlePermalink redirects to the oldest-order page that holds a post,
// at the post: where an "in reply to" link leads when the parent is on
// another page.
func (s *Service) handlePermalink(w http.ResponseWriter, r *http.Request, st *Stats) {
	thread, err1 := pathID(r, "thread")
	id, err2 := pathID(r, "id")
	if err := errors.Join(err1, err2); err != nil {
		st.WriteHeaders(w.Header())
		s.writeError(w, r, err)
		return
	}
	in, n, err := s.store.postPosition(r.Context(), id)
	st.WriteHeaders(w.Header())
	if err == nil && in != thread {
		err = fmt.Errorf("post %d is not in thread %d: %w", id, thread, ErrNotFound)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page := max(1, (n-1)/int64(s.pageSize)+1)
	http.Redirect(w, r, fmt.Sprintf("/embed/%d?order=oldest&page=%d#post-%d", thread, page, id), http.StatusFound)
}

func serveWidgetJS(w http.ResponseWriter, _ *http.Request, st *Stats) {
	st.WriteHeaders(w.Header())
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(widgetJS)
}
