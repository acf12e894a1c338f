package logs

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Formats are the documented line formats (README, PROTOCOL.md 11.2) as
// regular expressions, as a fail2ban rule or a grep would match them.
var Formats = map[string]*regexp.Regexp{
	LoginLog:     regexp.MustCompile(`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000\] info \[(cpaneld|whostmgrd|webmaild)\] (\S+) - (\S+) "([^"]*)" (FAILED LOGIN|DEFERRED LOGIN) (cpaneld|whostmgrd|webmaild): (.*)$`),
	SessionLog:   regexp.MustCompile(`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000\] info \[(cpaneld|whostmgrd|webmaild)\] (\S+) (NEW (\S+):([0-9a-f]{16}) (\w+=[^,\s]*(,\w+=[^,\s]*)*)|PURGE (\S+):([0-9a-f]{16}) (\w+))$`),
	AccessLog:    regexp.MustCompile(`^(\S+) - (\S+) \[\d\d/\d\d/\d{4}:\d\d:\d\d:\d\d -0000\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)" "(s|-)" "-" (\d+)$`),
	APITokensLog: regexp.MustCompile(`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000\] info \[(cpaneld|whostmgrd|webmaild)\] Host: \['([^']*)'\] HTTP Status: \['(\d{3})'\], User: \['([^']*)'\], Token Name: \['([^']*)'\], Request: \['([^']*)'\]$`),
	CPHulkLog:    regexp.MustCompile(`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000\] info \[cPhulkd\] Login Blocked: ([^\[]+) \[Service\]=\[(\S+)\] \[Remote IP Address\]=\[(\S+)\] \[Authentication Database\]=\[cpauth\] \[Username\]=\[([^\]]*)\] \((\d+)/(\d+) failures\) \(blocked until \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000\]\)$`),
}

// Summaries are the formats of the lines that sum up held-back refusals
// (Limit). Formats do not match them, so that a rule counting failed
// logins does not count a summary as one.
var Summaries = map[string]*regexp.Regexp{
	LoginLog: regexp.MustCompile(`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000\] info \[(cpaneld|whostmgrd|webmaild|cpauth)\] (\S+) - - "-" SUPPRESSED (cpaneld|whostmgrd|webmaild|cpauth): (\d+) further refusals from (\S+|other addresses) suppressed in the last (\d+) s$`),
}

// Check reports whether a line of the named file has its documented
// format or is a summary (the audit stream: one JSON decision, with no
// unknown field).
func Check(name, line string) error {
	if name == AuditLog {
		var d Decision
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil || d.Result == "" || d.Service == "" || d.Reason == "" {
			return fmt.Errorf("%s: not a decision: %q (%v)", name, line, err)
		}
		if (d.Reason == "suppressed") != (d.Suppressed > 0 && d.PeriodSeconds > 0) {
			return fmt.Errorf("%s: a summary is reason \"suppressed\" with a count and a period: %q", name, line)
		}
		return nil
	}
	re := Formats[name]
	if re == nil {
		return fmt.Errorf("%s: no such log", name)
	}
	if !re.MatchString(line) && (Summaries[name] == nil || !Summaries[name].MatchString(line)) {
		return fmt.Errorf("%s: line does not match the format: %q", name, line)
	}
	return nil
}
