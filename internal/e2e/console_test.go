package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/chromedp/chromedp"

	"palisade.dev/palisade/internal/testutil"
)

// browser starts a headless chromium with a fresh profile, for at most
// two minutes, and returns its context. Under CI a missing chromium fails.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := testutil.RequireCommand(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// byLabel selects the control a visible label names: a label's for=, or
// the control inside the label.
func byLabel(label string) chromedp.Search {
	return xpath(`(//*[@id=//label[normalize-space(.)=%[1]q]/@for] | //label[starts-with(normalize-space(.),%[1]q)]/*[self::input or self::select])`, label)
}

// button selects a button or a link-button by its visible text.
func button(text string) chromedp.Search {
	return xpath(`(//button[normalize-space(.)=%[1]q] | //a[normalize-space(.)=%[1]q])`, text)
}

// xpath is an XPath query (Search takes XPath, CSS or text).
func xpath(format string, args ...any) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(format, args...))
}

// act runs steps in the browser, and fails the test with the page it is on
// when one fails. A step that waits for what never comes gives up after
// 30 s (a bound on a hang, not a measure of speed).
func act(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("%s: %v\nat %s:\n%s", what, err, get(t, ctx, chromedp.Location()), get(t, ctx, chromedp.Text(chromedp.CSS("body"))))
	}
}

// get runs an action that reads something; "" when it fails.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, _ := chromedp.Run(ctx, a)
	return v
}

// eval runs JavaScript in the page.
func eval(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js+"; true")); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// bodyText is the visible text of the page.
func bodyText(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// shots is where screenshots of the console go: $PALISADE_CONSOLE_SHOTS,
// or a new temporary directory (kept, and logged).
func shots(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PALISADE_CONSOLE_SHOTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "palisade-console-shots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshots in %s", dir)
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConsole drives the web console in a real browser against a real
// serve: a wrong secret is refused; sign in, create a group, add "SSH from
// My IP" and see the rule with the aws CLI; a change without the CSRF
// token is refused; another account's group is not reachable by URL.
func TestConsole(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	ctx := browser(t)
	s := startServer(t, t.TempDir())
	admin := s.adminKey()
	dir := shots(t)

	act(t, ctx, "open the console", chromedp.Navigate(s.endpoint+"/"), chromedp.WaitVisible(button("Sign in")))
	screenshot(t, ctx, dir, "signin")
	act(t, ctx, "sign in with a wrong secret",
		chromedp.SendKeys(byLabel("Access key ID"), admin.AccessKeyID),
		chromedp.SendKeys(byLabel("Secret access key"), "not-the-secret"),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(xpath(`//*[@role="alert"]`)))
	if txt := bodyText(t, ctx); !strings.Contains(txt, "not valid") || strings.Contains(txt, "Security groups") {
		t.Fatalf("wrong secret:\n%s", txt)
	}

	act(t, ctx, "sign in",
		chromedp.SetValue(byLabel("Access key ID"), admin.AccessKeyID),
		chromedp.SendKeys(byLabel("Secret access key"), admin.SecretAccessKey),
		chromedp.Click(button("Sign in")),
		chromedp.WaitVisible(button("Create security group")))
	for _, nav := range []string{"VPCs", "Security groups", "Instances", "Network interfaces"} {
		act(t, ctx, "find "+nav, chromedp.WaitVisible(xpath(`//nav//a[normalize-space(.)=%q]`, nav)))
	}

	act(t, ctx, "create a group",
		chromedp.Click(button("Create security group")),
		chromedp.WaitVisible(byLabel("Security group name")),
		chromedp.SendKeys(byLabel("Security group name"), "web-console"),
		chromedp.SendKeys(byLabel("Description"), "made in the console"),
		chromedp.WaitVisible(byLabel("VPC")))
	screenshot(t, ctx, dir, "create-group")
	act(t, ctx, "submit the group",
		chromedp.Click(xpath(`//button[normalize-space(.)="Create security group"]`)),
		chromedp.WaitVisible(button("Edit inbound rules")))
	loc := get(t, ctx, chromedp.Location())
	group := loc[strings.LastIndex(loc, "/")+1:]
	if !strings.HasPrefix(group, "sg-") {
		t.Fatalf("after create: at %s", loc)
	}

	act(t, ctx, "add SSH from My IP",
		chromedp.Click(button("Edit inbound rules")),
		chromedp.WaitVisible(button("Add rule")),
		chromedp.Click(button("Add rule")),
		chromedp.WaitVisible(xpath(`//tbody[@id="rows"]/tr[1]`)),
		chromedp.SetValue(xpath(`//tbody[@id="rows"]/tr[last()]//label[starts-with(normalize-space(.),"Type")]/select`), "SSH"))
	eval(t, ctx, "pick SSH", `document.querySelector("#rows tr:last-child .type").dispatchEvent(new Event("change"))`)
	act(t, ctx, "pick My IP",
		chromedp.SetValue(xpath(`//tbody[@id="rows"]/tr[last()]//label[starts-with(normalize-space(.),"Source")]/select`), "my-ip"))
	eval(t, ctx, "pick My IP", `document.querySelector("#rows tr:last-child .source-kind").dispatchEvent(new Event("change"))`)
	act(t, ctx, "describe the rule",
		chromedp.SetValue(xpath(`//tbody[@id="rows"]/tr[last()]//label[normalize-space(.)="Description"]/input`), "ssh from my desk"))
	ports := get(t, ctx, chromedp.Value(xpath(`//tbody[@id="rows"]/tr[last()]//label[starts-with(normalize-space(.),"Port range")]/input`)))
	source := get(t, ctx, chromedp.Value(xpath(`//tbody[@id="rows"]/tr[last()]//input[@name="source"]`)))
	if ports != "22" || source != "127.0.0.1/32" {
		t.Fatalf("SSH from My IP filled port range %q and source %q, want 22 and 127.0.0.1/32", ports, source)
	}
	act(t, ctx, "preview", chromedp.Click(button("Preview changes")), chromedp.WaitVisible(xpath(`//h3[starts-with(.,"Rules added (1)")]`)))
	screenshot(t, ctx, dir, "edit-inbound-rules")
	act(t, ctx, "save", chromedp.Click(button("Save rules")), chromedp.WaitVisible(xpath(`//*[@role="status"]`)))
	if txt := bodyText(t, ctx); !strings.Contains(txt, "127.0.0.1/32") || !strings.Contains(txt, "SSH") {
		t.Fatalf("group page after save:\n%s", txt)
	}
	screenshot(t, ctx, dir, "group")

	var rules struct {
		SecurityGroupRules []struct {
			IsEgress         bool
			IpProtocol       string
			FromPort, ToPort int
			CidrIpv4         string
			Description      string
		}
	}
	cliJSON(t, s, &rules, "ec2", "describe-security-group-rules", "--filters", "Name=group-id,Values="+group)
	found := false
	for _, r := range rules.SecurityGroupRules {
		if !r.IsEgress && r.IpProtocol == "tcp" && r.FromPort == 22 && r.ToPort == 22 && r.CidrIpv4 == "127.0.0.1/32" && r.Description == "ssh from my desk" {
			found = true
		}
	}
	if !found {
		t.Fatalf("aws ec2 describe-security-group-rules does not show SSH from 127.0.0.1/32: %+v", rules)
	}

	// A change without the session's CSRF token is refused and changes
	// nothing.
	eval(t, ctx, "delete without the CSRF token", `window.confirm = () => true;
		const f = document.querySelector('form[action$="/delete"]');
		f.querySelector('input[name=csrf]').remove();
		f.requestSubmit()`)
	act(t, ctx, "see the refusal", chromedp.WaitVisible(xpath(`//h1[normalize-space(.)="Something went wrong"]`)))
	if txt := bodyText(t, ctx); !strings.Contains(txt, "CSRF") {
		t.Fatalf("delete without a token:\n%s", txt)
	}
	if _, stderr, code := cli(t, s, "ec2", "describe-security-groups", "--group-ids", group); code != 0 {
		t.Fatalf("the group is gone after a refused delete: %s", stderr)
	}

	// Another account's group is not reachable by URL.
	other := newAccount(t, s)
	out, err := s.ec2(other).CreateSecurityGroup(context.Background(), &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("not-yours"), Description: aws.String("another account")})
	if err != nil {
		t.Fatal(err)
	}
	act(t, ctx, "open another account's group", chromedp.Navigate(s.endpoint+"/console/groups/"+*out.GroupId),
		chromedp.WaitVisible(xpath(`//*[@role="alert"]`)))
	if txt := bodyText(t, ctx); !strings.Contains(txt, "InvalidGroup.NotFound") || strings.Contains(txt, "not-yours") {
		t.Fatalf("another account's group:\n%s", txt)
	}

	for _, p := range []struct{ path, name string }{{"/console/groups", "groups"}, {"/console/vpcs", "vpcs"}, {"/console/enis", "network-interfaces"}, {"/console/audit", "audit"}} {
		act(t, ctx, "open "+p.path, chromedp.Navigate(s.endpoint+p.path), chromedp.WaitVisible(chromedp.CSS("main h1")))
		screenshot(t, ctx, dir, p.name)
	}
	act(t, ctx, "sign out", chromedp.Click(button("Sign out")), chromedp.WaitVisible(button("Sign in")))
	s.stop()
}
