package cpapi

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Flag
		err  bool
	}{
		{`1`, 1, false}, {`"1"`, 1, false}, {`0`, 0, false}, {`"0"`, 0, false},
		{`true`, 1, false}, {`false`, 0, false}, {`null`, 0, false}, {`"x"`, 0, true},
	} {
		var f Flag
		err := json.Unmarshal([]byte(tc.in), &f)
		if (err != nil) != tc.err || f != tc.want {
			t.Errorf("%s: %d, %v; want %d", tc.in, f, err, tc.want)
		}
	}
}

func TestWHM1MetadataStringResult(t *testing.T) {
	var r WHM1Result
	if err := json.Unmarshal([]byte(`{"metadata":{"result":"1","reason":"OK","version":"1","output":{"warnings":["w"]}}}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Metadata.Result != 1 || r.Metadata.Version != 1 || len(r.Metadata.Warnings) != 1 {
		t.Errorf("%+v", r.Metadata)
	}
}

func TestHTTPErrorIs(t *testing.T) {
	for status, denied := range map[int]bool{401: true, 403: true, 404: false, 500: false} {
		if got := errors.Is(&HTTPError{Status: status}, ErrAccessDenied); got != denied {
			t.Errorf("HTTP %d is access denied: %v, want %v", status, got, denied)
		}
	}
}

func TestServicePorts(t *testing.T) {
	for svc, want := range map[Service]int{CPanel: 2083, WHM: 2087, Webmail: 2096, "other": 2083} {
		if got := svc.TLSPort(); got != want {
			t.Errorf("%s: %d, want %d", svc, got, want)
		}
	}
	c := &Client{Host: "::1", Service: WHM}
	if got := c.BaseURL(); got != "https://[::1]:2087" {
		t.Errorf("BaseURL = %s", got)
	}
}
