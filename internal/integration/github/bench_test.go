package github

import (
	"testing"
)

// BenchmarkVerifyAndParse measures the webhook path for one pull_request
// delivery: HMAC-SHA256 over the body, header checks, go-github decoding
// and normalisation. The server must sustain 2,000 deliveries/s end to end.
func BenchmarkVerifyAndParse(b *testing.B) {
	body := readCorpus(b, "pull_request__opened.payload.json")
	h := signedHeader(testSecret, "pull_request", "72d3162e-cc78-11e3-81ab-4c9367dc0958", body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		ev, err := VerifyAndParse(testSecret, h, body)
		if err != nil || ev.PullRequest == nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the signature check alone, for the breakdown.
func BenchmarkVerify(b *testing.B) {
	body := readCorpus(b, "pull_request__opened.payload.json")
	h := signedHeader(testSecret, "pull_request", "d", body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(testSecret, h, body); err != nil {
			b.Fatal(err)
		}
	}
}
