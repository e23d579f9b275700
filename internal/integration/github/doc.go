// Package github is patchctl's GitHub integration: it verifies signed
// webhook deliveries, parses them with go-github's typed events and
// normalises them into the small, stable structs of this package (Event and
// its parts), finds the patches a pull request belongs to (PatchKeys), and
// talks to the REST API (Client) to open a patch's branch and draft pull
// request and to read pull requests, reviews and checks for reconciliation.
//
// It is a pure integration: it imports the domain (package patchctl) and
// go-github, never the store or another integration. Mapping events onto
// patch transitions and evidence is the caller's job.
//
// Contract of the webhook path:
//
//   - Verify refuses every delivery unless a non-empty secret is configured
//     and the X-Hub-Signature-256 header carries the HMAC-SHA256 of the exact
//     body bytes. The SHA-1 header (X-Hub-Signature) is never enough. This is
//     stricter than go-github's ValidatePayload, which falls back to SHA-1 and
//     accepts anything when the secret is empty; that function is not used.
//   - ParseEvent never fails on an event it does not know: such deliveries
//     come back as TypeIgnored. It fails with patchctl.CodeInvalid on
//     malformed JSON (naming the byte offset, line and JSON path) and on
//     payloads that lack the object their event is about.
//   - Every user-visible error is a *patchctl.Error.
package github
