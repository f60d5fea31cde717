package archtest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// The documents of the repository are README.md and docs/*.md. These tests
// keep them in step with the code: no file points at notes outside the
// repository, every link and docs/ reference (with its #anchor) resolves,
// and every package is on the map.

// outside matches references to the notes that used to live beside the
// repository, and to the folder beside it that held them.
var outside = regexp.MustCompile(`\b(SEMANTICS|DATAPLANE|ARCHITECTURE|STYLE)\.md\b|\.\./shared\b`)

// docRef matches a reference to a document of docs/ in text (a Go comment,
// or prose): docs/<name>.md with an optional #anchor.
var docRef = regexp.MustCompile(`\bdocs/([A-Za-z0-9_-]+\.md)(#[A-Za-z0-9_-]+)?`)

// mdLink matches the target of an inline markdown link, [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// repoFiles returns the repository's files (relative, slash-separated)
// whose names end in one of exts, skipping hidden directories.
func repoFiles(t *testing.T, root string, exts ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && slices.ContainsFunc(exts, func(e string) bool { return strings.HasSuffix(p, e) }) {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// anchors returns the anchors GitHub makes of a markdown text's headings.
func anchors(md string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, line := range proseLines(md) {
		title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if !strings.HasPrefix(line, "#") || !ok {
			continue
		}
		a := slug(title)
		if n := seen[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// slug is GitHub's anchor of a heading: lower case, punctuation dropped,
// spaces turned into hyphens.
func slug(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(title)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// proseLines returns the lines of md outside fenced code blocks.
func proseLines(md string) []string {
	var out []string
	fenced := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			out = append(out, line)
		}
	}
	return out
}

// docs reads the repository's markdown files: path → text.
type docs map[string]string

func readDocs(t *testing.T, root string) docs {
	t.Helper()
	d := docs{}
	for _, rel := range repoFiles(t, root, ".md") {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		d[rel] = string(b)
	}
	return d
}

// checkTarget says what is wrong with target (a path relative to the
// repository, with an optional #anchor) or returns "".
func (d docs) checkTarget(root, target string) string {
	file, anchor, _ := strings.Cut(target, "#")
	if file == ".." || strings.HasPrefix(file, "../") {
		return "points outside the repository"
	}
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(file))); err != nil {
		return "no such file"
	}
	if anchor == "" {
		return ""
	}
	text, ok := d[file]
	if !ok {
		return "an anchor in a file that is not markdown"
	}
	if !anchors(text)[anchor] {
		return "no heading with anchor #" + anchor + " in " + file
	}
	return ""
}

// linkProblems lists the broken links of the markdown file rel.
func (d docs) linkProblems(root, rel string) []string {
	var out []string
	for _, line := range proseLines(d[rel]) {
		for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
			target := strings.Trim(m[1], "<>")
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if strings.HasPrefix(target, "#") {
				target = rel + target
			} else {
				target = filepath.ToSlash(filepath.Join(filepath.Dir(rel), target))
			}
			if msg := d.checkTarget(root, target); msg != "" {
				out = append(out, fmt.Sprintf("%s: link %s: %s", rel, m[1], msg))
			}
		}
	}
	return out
}

// refProblems lists the references of text (from file rel) that point
// outside the repository or at a docs/ file or anchor that does not exist.
func (d docs) refProblems(root, rel, text string) []string {
	var out []string
	for i, line := range strings.Split(text, "\n") {
		if m := outside.FindString(line); m != "" {
			out = append(out, fmt.Sprintf("%s:%d: refers to %s, which is not in the repository: point at docs/ instead", rel, i+1, m))
		}
		for _, m := range docRef.FindAllStringSubmatch(line, -1) {
			if msg := d.checkTarget(root, "docs/"+m[1]+m[2]); msg != "" {
				out = append(out, fmt.Sprintf("%s:%d: %s: %s", rel, i+1, m[0], msg))
			}
		}
	}
	return out
}

func TestDocumentsStayInRepository(t *testing.T) {
	root := repoRoot(t)
	d := readDocs(t, root)
	if _, ok := d["docs/architecture.md"]; !ok {
		t.Fatal("docs/architecture.md is missing")
	}
	var problems []string
	for _, rel := range repoFiles(t, root, ".go", ".md") {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		problems = append(problems, d.refProblems(root, rel, string(b))...)
		if strings.HasSuffix(rel, ".md") {
			problems = append(problems, d.linkProblems(root, rel)...)
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// packageDirs lists the directories under cmd/ and internal/ that hold Go
// files (testdata excluded).
func packageDirs(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, rel := range repoFiles(t, root, ".go") {
		dir := filepath.ToSlash(filepath.Dir(rel))
		if (strings.HasPrefix(dir, "cmd/") || strings.HasPrefix(dir, "internal/")) &&
			!strings.Contains("/"+dir+"/", "/testdata/") && !slices.Contains(out, dir) {
			out = append(out, dir)
		}
	}
	if len(out) < 3 {
		t.Fatalf("found only %d package directories", len(out))
	}
	return out
}

// tableRow matches the first cell of a table row that names a package.
var tableRow = regexp.MustCompile("(?m)^\\| `((?:cmd|internal)/[^`]+)` \\|")

// TestEveryPackageOnTheMap: every package is described in
// docs/architecture.md and listed in README.md's layout table, neither
// lists a package that does not exist, and every entry of the layering
// table is named in docs/architecture.md.
func TestEveryPackageOnTheMap(t *testing.T) {
	root := repoRoot(t)
	d := readDocs(t, root)
	arch, readme := d["docs/architecture.md"], d["README.md"]
	dirs := packageDirs(t, root)
	for _, dir := range dirs {
		if !strings.Contains(arch, "`"+dir+"`") {
			t.Errorf("package %s is not described in docs/architecture.md", dir)
		}
		if !strings.Contains(readme, "| `"+dir+"` |") {
			t.Errorf("package %s is not in README.md's layout table", dir)
		}
	}
	for _, doc := range []string{"docs/architecture.md", "README.md"} {
		for _, m := range tableRow.FindAllStringSubmatch(d[doc], -1) {
			if !slices.Contains(dirs, m[1]) {
				t.Errorf("%s lists package %s, which does not exist", doc, m[1])
			}
		}
	}
	for entry := range allowed {
		if !strings.Contains(arch, "`"+entry+"`") && !strings.Contains(arch, "`"+strings.TrimPrefix(entry, "internal/")+"`") {
			t.Errorf("%s is in archtest's layering table but not named in docs/architecture.md", entry)
		}
	}
}

// badDoc is a document that exists only in TestDocsCheckerCatchesProblems.
const badDoc = "docs/" + "bad.md"

// TestDocsCheckerCatchesProblems makes sure the checks above can fail.
func TestDocsCheckerCatchesProblems(t *testing.T) {
	root := repoRoot(t)
	d := docs{
		"docs/architecture.md": "# Architecture\n\n## The flow of one change\n\n```\n## not a heading\n```\n",
		badDoc:                 "See [map](architecture.md#no-such-anchor), [up](../../x.md) and [gone](nothing.md).\n",
	}
	bad := []string{
		"// as " + "SEMANTICS" + ".md §6 says",
		"// see " + "STYLE" + ".md 5",
		"[notes](../" + "shared/notes.md)",
		"// docs/" + "nothing.md",
		"// docs/" + "architecture.md#not-a-heading",
	}
	for _, text := range bad {
		if len(d.refProblems(root, "x.go", text)) == 0 {
			t.Errorf("%q was accepted", text)
		}
	}
	if got := d.refProblems(root, "x.go", "// docs/architecture.md#the-flow-of-one-change"); len(got) != 0 {
		t.Errorf("a good reference was refused: %v", got)
	}
	if got := d.linkProblems(root, badDoc); len(got) != 3 {
		t.Errorf("bad links: got %d problems, want 3: %v", len(got), got)
	}
	if a := anchors(d["docs/architecture.md"]); !a["the-flow-of-one-change"] || a["not-a-heading"] {
		t.Errorf("anchors: %v", a)
	}
}
