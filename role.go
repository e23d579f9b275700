package patchctl

// Role is what an actor may do. Permissions are explicit per action (see
// Allowed), not a ladder: an admin manages tokens and may override gates but
// is not the on-call engineer, so it may not decide a rollback.
type Role string

// Roles.
const (
	RoleViewer   Role = "viewer"
	RoleEngineer Role = "engineer"
	RoleOncall   Role = "oncall"
	RoleLead     Role = "lead"
	RoleAdmin    Role = "admin"
)

// Roles lists every role.
var Roles = []Role{RoleViewer, RoleEngineer, RoleOncall, RoleLead, RoleAdmin}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, v := range Roles {
		if r == v {
			return true
		}
	}
	return false
}

// Permission is an action a role may be allowed.
type Permission string

// Permissions.
const (
	PermRead       Permission = "read"
	PermWrite      Permission = "write"       // create and edit patches, links, evidence; transitions
	PermImport     Permission = "import"      // import scanner reports and enrichment feeds
	PermRollback   Permission = "rollback"    // decide a rollback (SOP: on-call engineer or team lead)
	PermOverride   Permission = "override"    // push a transition past refusing gates
	PermAcceptRisk Permission = "accept_risk" // accept a finding's risk, mark false positives
	PermAdmin      Permission = "admin"       // tokens and settings
)

var permissions = map[Role][]Permission{
	RoleViewer:   {PermRead},
	RoleEngineer: {PermRead, PermWrite, PermImport},
	RoleOncall:   {PermRead, PermWrite, PermImport, PermRollback},
	RoleLead:     {PermRead, PermWrite, PermImport, PermRollback, PermOverride, PermAcceptRisk},
	RoleAdmin:    {PermRead, PermWrite, PermImport, PermOverride, PermAcceptRisk, PermAdmin},
}

// Allowed reports whether r holds permission p.
func (r Role) Allowed(p Permission) bool {
	for _, q := range permissions[r] {
		if q == p {
			return true
		}
	}
	return false
}

// RolesWith lists the roles holding p, for error messages.
func RolesWith(p Permission) []Role {
	var out []Role
	for _, r := range Roles {
		if r.Allowed(p) {
			out = append(out, r)
		}
	}
	return out
}

// Actor is who performs an operation: a person behind a token, a local CLI
// user, or a component of patchctl itself (system:scheduler, github, ...).
type Actor struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// TokenID is the API token used, if any.
	TokenID int64 `json:"token_id,omitempty"`
}

// System actors act for automation; they hold the engineer's permissions plus
// what their job needs.
func SystemActor(name string) Actor { return Actor{Name: "system:" + name, Role: RoleEngineer} }
