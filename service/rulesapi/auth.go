package rulesapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// Role orders what a caller may do: each role can do what the ones below it can.
type Role int

// The roles of the rules repository.
const (
	// RoleNone is an unauthenticated caller: health and the console's static
	// files only.
	RoleNone Role = iota
	// RoleViewer reads versions and history, validates and lists the schema.
	RoleViewer
	// RoleEditor also dry-runs rule sets on sample events (:test).
	RoleEditor
	// RolePublisher also publishes new versions and rolls back.
	RolePublisher
)

func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleEditor:
		return "editor"
	case RolePublisher:
		return "publisher"
	}
	return "none"
}

// ParseRole reads "viewer", "editor" or "publisher".
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "viewer":
		return RoleViewer, nil
	case "editor":
		return RoleEditor, nil
	case "publisher":
		return RolePublisher, nil
	}
	return RoleNone, fmt.Errorf("unknown role %q (want viewer, editor or publisher)", s)
}

// Principal is an authenticated caller; Name is what history and the audit
// log record as the author.
type Principal struct {
	Name string `json:"name"`
	Role Role   `json:"-"`
}

// Credential is one entry of a tokens file. Either Token (sent as
// "Authorization: Bearer TOKEN") or User and Password (HTTP Basic) is set.
type Credential struct {
	Token    string `json:"token,omitempty"`
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	Name     string `json:"name,omitempty"`
	Role     string `json:"role"`
}

// credentialsFile is the tokens file, YAML or JSON:
//
//	tokens:
//	  - {token: s3cret, role: publisher, name: alice}
//	  - {user: bob, password: hunter2, role: editor}
type credentialsFile struct {
	Tokens []Credential `json:"tokens"`
}

// Auth authenticates requests against a fixed set of credentials. Secrets
// are kept as SHA-256 digests and compared in constant time.
type Auth struct {
	tokens map[[32]byte]Principal
	basic  map[string]basicUser
}

type basicUser struct {
	password [32]byte
	p        Principal
}

// NewAuth builds an Auth from credentials; a credential without a secret or
// with an unknown role is an error, so a typo never opens a write path.
func NewAuth(creds []Credential) (*Auth, error) {
	a := &Auth{tokens: map[[32]byte]Principal{}, basic: map[string]basicUser{}}
	for i, c := range creds {
		role, err := ParseRole(c.Role)
		if err != nil {
			return nil, fmt.Errorf("rulesapi: credential %d: %w", i+1, err)
		}
		switch {
		case c.Token != "" && c.User == "":
			name := c.Name
			if name == "" {
				name = "token-" + fmt.Sprint(i+1)
			}
			a.tokens[sha256.Sum256([]byte(c.Token))] = Principal{Name: name, Role: role}
		case c.User != "" && c.Password != "" && c.Token == "":
			name := c.Name
			if name == "" {
				name = c.User
			}
			a.basic[c.User] = basicUser{password: sha256.Sum256([]byte(c.Password)), p: Principal{Name: name, Role: role}}
		default:
			return nil, fmt.Errorf("rulesapi: credential %d: set either token, or user and password", i+1)
		}
	}
	return a, nil
}

// LoadCredentials reads a tokens file (YAML or JSON).
func LoadCredentials(path string) ([]Credential, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rulesapi: tokens file: %w", err)
	}
	var f credentialsFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		return nil, fmt.Errorf("rulesapi: tokens file %s: %w", path, err)
	}
	return f.Tokens, nil
}

// ParseTokenFlag reads the --token flag form TOKEN=ROLE[:NAME].
func ParseTokenFlag(s string) (Credential, error) {
	tok, rest, ok := strings.Cut(s, "=")
	if !ok || tok == "" || rest == "" {
		return Credential{}, fmt.Errorf("token %q: want TOKEN=ROLE[:NAME]", s)
	}
	role, name, _ := strings.Cut(rest, ":")
	if _, err := ParseRole(role); err != nil {
		return Credential{}, fmt.Errorf("token %q: %w", s, err)
	}
	return Credential{Token: tok, Role: role, Name: name}, nil
}

// Authenticate returns the caller of r; ok is false when r carries no valid
// credential.
func (a *Auth) Authenticate(r *http.Request) (Principal, bool) {
	h := r.Header.Get("Authorization")
	if tok, found := strings.CutPrefix(h, "Bearer "); found {
		sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		// Map lookup by digest: the digest, not the secret, is what timing
		// could reveal.
		p, ok := a.tokens[sum]
		return p, ok
	}
	if user, pass, ok := r.BasicAuth(); ok {
		u, found := a.basic[user]
		sum := sha256.Sum256([]byte(pass))
		if !found || subtle.ConstantTimeCompare(sum[:], u.password[:]) != 1 {
			return Principal{}, false
		}
		return u.p, true
	}
	return Principal{}, false
}
