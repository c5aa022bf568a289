// Report: one self-contained HTML page (tables from the template, charts
// drawn as inline SVG by report.js) with no network access at all.
package bench

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
)

//go:embed report.html
var reportHTML string

//go:embed report.js
var reportJS string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"us":    fmtUS,
	"count": fmtCount,
	"ratio": fmtRatio,
	"pct":   fmtPct,
	"secs":  fmtSecs,
	"maybe": fmtMaybe,
	"yesno": yesNo,
	"f1":    func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"per":   fmtPer,
	"per2":  fmtPer2,
	"features": func(f *Features) string {
		if f == nil {
			return ""
		}
		return f.describe()
	},
}).Parse(reportHTML))

// HTML renders the report page.
func (r *Report) HTML() ([]byte, error) {
	data, err := json.Marshal(r) // escapes <, > and & so it cannot end the script
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = reportTmpl.Execute(&b, struct {
		*Report
		Data   template.JS
		Script template.JS
	}{r, template.JS(data), template.JS(reportJS)})
	return b.Bytes(), err
}

// WriteHTML writes the report page to path.
func (r *Report) WriteHTML(path string) error {
	page, err := r.HTML()
	if err != nil {
		return err
	}
	return os.WriteFile(path, page, 0o644)
}
